//! Reading a gateway's answer: never more than [`MAX_ANSWER`] bytes into memory, whatever
//! the gateway (or something posing as it) sends.

use crate::ConnectorError;

/// The largest gateway answer read (256 KiB): real ones are a few KiB.
pub const MAX_ANSWER: usize = 256 * 1024;

/// The body of `response`, refused as a [`ConnectorError::BadResponse`] once it exceeds
/// `MAX_ANSWER` (checked against Content-Length first, then while it streams).
pub async fn read_capped(response: reqwest::Response) -> Result<Vec<u8>, ConnectorError> {
    read_capped_to(response, MAX_ANSWER).await
}

/// As [`read_capped`], with the cap given.
pub async fn read_capped_to(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, ConnectorError> {
    let too_large = || ConnectorError::BadResponse(format!("the gateway's answer is larger than {cap} bytes"));
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
