//! The JSON body extractor: a 64 KiB limit and errors in the API's own format.

use super::error::ApiError;
use crate::app::AppState;
use crate::service::error::Code;
use axum::extract::{FromRequest, Request};

/// The largest request body feegate reads.
pub const MAX_BODY: usize = 64 * 1024;

pub use crate::service::error::typed;
pub use crate::service::inbox::MAX_UPLOAD;

/// A request body parsed as any JSON value; the handler's parser checks its shape.
pub struct JsonBody(pub serde_json::Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(axum::http::header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            if !ct.starts_with("application/json") {
                return Err(ApiError::new(Code::UnsupportedMediaType, "send Content-Type: application/json"));
            }
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| ApiError::new(Code::BodyTooLarge, format!("request body is larger than {MAX_BODY} bytes")))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::new(Code::InvalidJson, format!("the body is not valid JSON: {e}")))?;
        Ok(JsonBody(value))
    }
}
