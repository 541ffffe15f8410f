//! Stands in for the HTTP API's JWT authorizer: RS256 with a key made at start-up, issuer,
//! audience and expiry checked; claims handed on as strings, as API Gateway does.

use std::collections::HashMap;

use anyhow::Context;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde_json::{Map, Value};

pub const ISSUER: &str = "https://auth.inbox-contacts.local/";
pub const AUDIENCE: &str = "inbox-contacts-api";
pub const TOKEN_LIFETIME_SECS: i64 = 12 * 60 * 60;

pub struct Authorizer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

/// What a token says beyond the standard claims; `iss`, `aud` and lifetime can be overridden
/// so tests can present tokens the authorizer must refuse.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub claims: Map<String, Value>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub expires_in: Option<i64>,
}

impl Authorizer {
    pub fn generate() -> anyhow::Result<Self> {
        // aws-lc-rs (already the TLS and JWT crypto) makes the key; jsonwebtoken reads it as
        // PKCS#8 PEM and verifies with the public modulus and exponent.
        let pair = KeyPair::generate(KeySize::Rsa2048).context("RSA key")?;
        let pkcs8 = pair.as_der().context("RSA key as PKCS#8")?;
        let private_pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        let public = pair.public_key();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        Ok(Self {
            encoding: EncodingKey::from_rsa_pem(private_pem.as_bytes())?,
            decoding: DecodingKey::from_rsa_raw_components(
                public.modulus().big_endian_without_leading_zero(),
                public.exponent().big_endian_without_leading_zero(),
            ),
            validation,
        })
    }

    pub fn mint(
        &self,
        request: TokenRequest,
        now_unix: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut claims = request.claims;
        claims.insert(
            "iss".into(),
            request.issuer.unwrap_or_else(|| ISSUER.into()).into(),
        );
        claims.insert(
            "aud".into(),
            request.audience.unwrap_or_else(|| AUDIENCE.into()).into(),
        );
        claims.insert("iat".into(), now_unix.into());
        let lifetime = request.expires_in.unwrap_or(TOKEN_LIFETIME_SECS);
        claims.insert("exp".into(), (now_unix + lifetime).into());
        encode(&Header::new(Algorithm::RS256), &claims, &self.encoding)
    }

    /// The verified claims, each as a string, or `None` for any token the authorizer refuses.
    pub fn verify(&self, authorization: Option<&str>) -> Option<HashMap<String, String>> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        let data = decode::<Map<String, Value>>(token, &self.decoding, &self.validation).ok()?;
        Some(
            data.claims
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn claims() -> Map<String, Value> {
        serde_json::json!({"sub": "u-1", "org_id": "acme", "role": "admin"})
            .as_object()
            .unwrap()
            .clone()
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    /// A token for the test claims, minted now with what `request` asks beyond them.
    fn minted(auth: &Authorizer, request: TokenRequest) -> String {
        let request = TokenRequest {
            claims: claims(),
            ..request
        };
        auth.mint(request, now()).unwrap()
    }

    #[test]
    fn accepts_its_own_tokens_and_hands_claims_on_as_strings() {
        let auth = Authorizer::generate().unwrap();
        let token = minted(&auth, TokenRequest::default());
        let verified = auth.verify(Some(&bearer(&token))).unwrap();
        assert_eq!(verified["org_id"], "acme");
        assert!(verified["exp"].parse::<i64>().is_ok());
    }

    #[test]
    fn refuses_what_api_gateway_refuses() {
        let auth = Authorizer::generate().unwrap();
        let other = Authorizer::generate().unwrap();
        let mint = |r: TokenRequest| minted(&auth, r);

        let foreign_key = minted(&other, TokenRequest::default());
        let wrong_issuer = mint(TokenRequest {
            issuer: Some("https://evil/".into()),
            ..Default::default()
        });
        let wrong_audience = mint(TokenRequest {
            audience: Some("other-api".into()),
            ..Default::default()
        });
        let expired = mint(TokenRequest {
            expires_in: Some(-5),
            ..Default::default()
        });
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&serde_json::json!({
            "sub": "u", "org_id": "acme", "role": "admin", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600
        })).unwrap());
        let alg_none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
        );
        let good = mint(TokenRequest::default());
        // Another org in a valid payload that the signature does not cover.
        let parts: Vec<&str> = good.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["org_id"] = "globex".into();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
            parts[2]
        );

        for (what, token) in [
            ("foreign key", foreign_key),
            ("wrong issuer", wrong_issuer),
            ("wrong audience", wrong_audience),
            ("expired", expired),
            ("alg none", alg_none),
            ("tampered", tampered),
        ] {
            assert!(
                auth.verify(Some(&bearer(&token))).is_none(),
                "{what} accepted"
            );
        }
        assert!(
            auth.verify(Some(&good)).is_none(),
            "token without Bearer accepted"
        );
        assert!(auth.verify(None).is_none());
    }
}
