//! Limits on the request line and the headers, answered with problem+json:
//! `414 uri-too-long` for a long path and query string, `431
//! headers-too-large` for too many headers, one too large, or too many
//! bytes of them in all.
//!
//! actix-http has cruder limits of its own, checked before any of Herald's
//! code runs, and answered with a bare status: more than 96 headers or a
//! request head over 128 KiB get an empty `431`, a request target over
//! 65,534 bytes an empty `400`. Herald's limits are lower than those, so
//! that a request that fits them in every other way (headers of at most
//! [`MAX_HEADER_BYTES`] each and [`MAX_HEADERS_BYTES`] in all, a target of
//! at most [`MAX_URI_BYTES`]) is answered here, with a problem that says
//! which limit it broke. Bodies are limited where they are read
//! (`limits.max_body_bytes`).

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use futures_util::future::LocalBoxFuture;

use crate::problem::ApiError;

/// Longest request target (path and query string), in bytes. A stream
/// naming its 64 patterns percent-encoded and carrying an 8 KiB token in
/// `access_token` needs about 34 KiB.
pub const MAX_URI_BYTES: usize = 48 * 1024;
/// Most header lines in one request.
pub const MAX_HEADERS: usize = 64;
/// Largest single header (name and value), in bytes: room for a `Cookie`
/// or `Authorization` header carrying an 8 KiB subscriber token.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most bytes of all headers together (names and values).
pub const MAX_HEADERS_BYTES: usize = 64 * 1024;

/// The limit a request head breaks, if any.
fn check(req: &ServiceRequest) -> Option<ApiError> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(ApiError::UriTooLong(format!("the path and query string are {target} bytes; at most {MAX_URI_BYTES} are accepted")));
    }
    let headers = req.headers();
    if headers.len() > MAX_HEADERS {
        return Some(ApiError::HeadersTooLarge(format!("the request has {} headers; at most {MAX_HEADERS} are accepted", headers.len())));
    }
    let mut total = 0;
    for (name, value) in headers.iter() {
        let size = name.as_str().len() + value.len();
        if size > MAX_HEADER_BYTES {
            return Some(ApiError::HeadersTooLarge(format!(
                "the header `{name}` is {size} bytes; at most {MAX_HEADER_BYTES} are accepted"
            )));
        }
        total += size;
    }
    if total > MAX_HEADERS_BYTES {
        return Some(ApiError::HeadersTooLarge(format!("the headers are {total} bytes in all; at most {MAX_HEADERS_BYTES} are accepted")));
    }
    None
}

pub(crate) fn request_limits<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, actix_web::Error>> {
    if let Some(refused) = check(&req) {
        let res = req.into_response(refused.error_response()).map_into_right_body();
        return Box::pin(std::future::ready(Ok(res)));
    }
    let call = next.call(req);
    Box::pin(async move { call.await.map(ServiceResponse::map_into_left_body) })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn code(req: TestRequest) -> Option<String> {
        check(&req.to_srv_request()).map(|e| e.to_string())
    }

    #[test]
    fn heads_within_the_limits_pass_and_others_say_which_limit() {
        assert_eq!(code(TestRequest::get().uri("/v1/tenants?limit=5")), None);
        let at_limit = format!("/s?q={}", "a".repeat(MAX_URI_BYTES - 5));
        assert_eq!(code(TestRequest::get().uri(&at_limit)), None);
        let over = format!("/s?q={}", "a".repeat(MAX_URI_BYTES - 4));
        assert!(code(TestRequest::get().uri(&over)).unwrap().contains("at most 49152"));

        let many = (0..=MAX_HEADERS).fold(TestRequest::get(), |r, i| r.insert_header((format!("x-h{i}"), "v")));
        assert!(code(many).unwrap().contains("65 headers"));
        let enough = (0..MAX_HEADERS).fold(TestRequest::get(), |r, i| r.insert_header((format!("x-h{i}"), "v")));
        assert_eq!(code(enough), None);

        let big = TestRequest::get().insert_header(("x-big", "v".repeat(MAX_HEADER_BYTES - 5 + 1)));
        assert!(code(big).unwrap().contains("`x-big`"));
        let fits = TestRequest::get().insert_header(("x-big", "v".repeat(MAX_HEADER_BYTES - 5)));
        assert_eq!(code(fits), None);
        let total = (0..5).fold(TestRequest::get(), |r, i| r.insert_header((format!("x-h{i}"), "v".repeat(15_000))));
        assert!(code(total).unwrap().contains("in all"));
    }
}
