//! JSON request bodies: the content type must be `application/json`, the body at most the
//! configured request size, and the JSON must match the route's shape. Anything else is a
//! 400 error envelope (413 when too large) whose message says what was wrong, before any
//! handler runs, so nothing is written.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::gateway::Gateway;
use crate::gateway::context::Ctx;
use crate::gateway::error::envelope;

/// A JSON body parsed strictly (types must match; unknown fields are ignored, as in the
/// contract).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Gateway> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, g: &Gateway) -> Result<Self, Response> {
        let ctx = Ctx::new(req.uri().path(), g);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" {
            let shown = if content_type.is_empty() {
                "none".to_owned()
            } else {
                format!("'{content_type}'")
            };
            return Err(envelope(
                StatusCode::BAD_REQUEST,
                &format!("Invalid JSON body: Content-Type must be application/json (got {shown})"),
                &ctx,
            ));
        }
        let limit = g.limits.max_request_bytes;
        let bytes = match axum::body::to_bytes(req.into_body(), limit).await {
            Ok(b) => b,
            Err(_) => {
                return Err(envelope(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("body: request body is larger than the limit of {limit} bytes"),
                    &ctx,
                ));
            }
        };
        parse(&bytes)
            .map(JsonBody)
            .map_err(|m| envelope(StatusCode::BAD_REQUEST, &m, &ctx).into_response())
    }
}

fn parse<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("Invalid JSON body: {e}"))?;
    whole_numbers(&mut value);
    T::deserialize(value).map_err(|e| format!("Invalid JSON body: {e}"))
}

/// Writes numbers such as `8819.0` as the integers they are. JSON has one number type, and
/// JSON Schema counts a number without a fractional part as an integer, so an integer field
/// takes `8819.0` as it takes `8819`; `8819.5` is still refused by the field's type.
fn whole_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f >= 0.0
                && f < u64::MAX as f64
            {
                *value = Value::from(f as u64);
            } else if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f < 0.0
                && f >= i64::MIN as f64
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Body {
        flags: u64,
        #[serde(default)]
        port: Option<u32>,
    }

    #[test]
    fn whole_numbers_written_with_a_fraction_are_integers() {
        let b: Body = parse(&Bytes::from_static(br#"{"flags": 8819.0, "port": 80.0}"#)).unwrap();
        assert_eq!((b.flags, b.port), (8819, Some(80)));
        let e = parse::<Body>(&Bytes::from_static(br#"{"flags": 1.5}"#)).unwrap_err();
        assert!(
            e.starts_with("Invalid JSON body: invalid type: floating point"),
            "{e}"
        );
        let e = parse::<Body>(&Bytes::from_static(br#"{"flags": -1.0}"#)).unwrap_err();
        assert!(e.contains("invalid value"), "{e}");
        let e = parse::<Body>(&Bytes::from_static(b"{")).unwrap_err();
        assert!(e.starts_with("Invalid JSON body: "), "{e}");
    }
}
