//! The `Principal` extractor: reads `Authorization: Bearer <key>` and asks the service who
//! the key belongs to ([`crate::service::caller`]).

use super::error::ApiError;
use crate::app::AppState;
use crate::service::caller;
pub use crate::service::caller::{Principal, Role};
use crate::service::error::Code;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

fn unauthorized(code: Code, message: &str) -> ApiError {
    ApiError::new(code, message)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Already authenticated for this request by the rate limiter (`api::ratelimit`).
        if let Some(who) = parts.extensions.get::<Principal>() {
            return Ok(who.clone());
        }
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized(Code::MissingApiKey, "send Authorization: Bearer <key>"))?;
        let value = header.to_str().map_err(|_| unauthorized(Code::InvalidApiKey, "the API key is not valid"))?;
        let key = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| unauthorized(Code::InvalidApiKey, "use the Bearer scheme: Authorization: Bearer <key>"))?
            .trim();
        caller::authenticate(&state.store, key).await
    }
}
