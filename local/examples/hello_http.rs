//! The floor `scripts/init-times` measures the functions against: a `lambda_http` function that
//! builds nothing at all.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(|_request| async {
        Ok::<_, lambda_http::Error>(lambda_http::Response::new(lambda_http::Body::from("hello")))
    }))
    .await
}
