use super::*;

#[test]
fn only_public_https_urls_without_user_info_are_accepted() {
    let ok = |u: &str| CrmUrl::parse("lookup_url", u, Loopback::Refused).is_ok();
    assert!(ok("https://crm.example.com/lookup"));
    assert!(ok("https://8.8.8.8/lookup"));
    assert!(ok("https://[2606:4700:4700::1111]/lookup"));
    assert!(
        ok("https://[64:ff9b::808:808]/lookup"),
        "NAT64 of a public address"
    );
    for bad in [
        "http://crm.example.com/lookup",
        "https://user:pw@crm.example.com/",
        "https://127.0.0.1/",
        "https://10.1.2.3/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/",
        "https://[::1]/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://[64:ff9b::a00:1]/",
        "https://[2002:a00:1::1]/",
        "https://[2002:808:808::1]/",
        "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
        "https://[64:ff9b:1::a00:1]/",
        "https://[64:ff9b:1::808:808]/",
        "https://[fec0::1]/",
        "https://[100::1]/",
        "https://localhost/",
        "http://127.0.0.1:9000/",
        "ftp://crm.example.com/",
        "not a url",
    ] {
        assert!(!ok(bad), "{bad} must be refused");
    }
}

#[test]
fn the_local_runtime_alone_accepts_loopback_with_a_port() {
    let local = |u: &str| CrmUrl::parse("lookup_url", u, Loopback::Allowed).is_ok();
    assert!(local("http://127.0.0.1:9000/lookup"));
    assert!(local("http://localhost:9000/lookup"));
    assert!(!local("http://127.0.0.1/lookup"), "a port is required");
    assert!(!local("http://10.0.0.1:9000/lookup"));
}

#[test]
fn signatures_follow_standard_webhooks() {
    // The Standard Webhooks specification's example.
    let secret = SigningSecret::from_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()).unwrap();
    let body = br#"{"test": 2432232314}"#;
    assert_eq!(
        secret
            .sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
            .unwrap(),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    let other = SigningSecret::generate();
    let header = signature_header(&[secret, other.clone()], "id", 1, b"{}").unwrap();
    assert_eq!(header.split(' ').count(), 2);
    assert!(header.ends_with(&other.sign("id", 1, b"{}").unwrap()));
}

#[test]
fn a_generated_secret_is_32_random_bytes_and_never_debug_printed() {
    let a = SigningSecret::generate();
    assert!(a.expose().starts_with("whsec_"));
    assert_eq!(a.key().unwrap().len(), 32);
    assert_ne!(a, SigningSecret::generate());
    assert!(!format!("{a:?}").contains(&a.expose()[6..]));
    assert_eq!(a.hint().len(), 4);
}
