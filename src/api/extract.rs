//! Query-string and path extractors that refuse in the API's own format: axum's own
//! answer a bad `?limit=x` or a path segment that is not UTF-8 with a `text/plain` 400.

use super::error::ApiError;
use crate::service::error::Code;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// The query string parsed into `T`; a value of the wrong type is a 400 `invalid_query`
/// that names the parameter.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(Query)
    }
}

/// Parses a query string into `T` (see [`Query`]).
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        let field = match inner.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            Some(f) => f.to_owned(),
            None => path,
        };
        let mut err = ApiError::new(Code::InvalidQuery, format!("the query string is not valid: {inner}"));
        err.field = Some(field).filter(|f| !f.is_empty() && f != ".");
        err
    })
}

/// Path parameters parsed into `T`; a segment that cannot be read is a 400 `invalid_path`.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(r) if r.status().is_server_error() => Err(ApiError::internal(r.body_text())),
            Err(r) => Err(ApiError::new(Code::InvalidPath, r.body_text())),
        }
    }
}
