//! The documented paths and the methods each answers, taken from the
//! OpenAPI document, so that a request with the wrong method gets `405`
//! with `Allow` rather than a `404` that says the path does not exist.

use actix_web::http::Method;

/// Does `path` fit an OpenAPI path template (`{name}` stands for one
/// non-empty segment)?
pub(crate) fn fits(template: &str, path: &str) -> bool {
    let mut want = template.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => continue,
            (Some(w), Some(g)) if w == g => continue,
            _ => return false,
        }
    }
}

/// Every documented path template with its methods.
#[derive(Debug, Default)]
pub(crate) struct KnownPaths(Vec<(String, Vec<Method>)>);

impl KnownPaths {
    pub fn from_spec(spec: &utoipa::openapi::OpenApi) -> Self {
        let paths = spec
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let methods = [
                    (Method::GET, item.get.is_some()),
                    (Method::POST, item.post.is_some()),
                    (Method::PUT, item.put.is_some()),
                    (Method::PATCH, item.patch.is_some()),
                    (Method::DELETE, item.delete.is_some()),
                ];
                (template.clone(), methods.into_iter().filter(|(_, present)| *present).map(|(m, _)| m).collect())
            })
            .collect();
        Self(paths)
    }

    /// The methods `path` answers, or `None` if no documented path fits it.
    pub fn allowed(&self, path: &str) -> Option<Vec<Method>> {
        let mut methods: Vec<Method> = Vec::new();
        for (template, ms) in &self.0 {
            if fits(template, path) {
                methods.extend(ms.iter().filter(|m| !methods.contains(m)).cloned().collect::<Vec<_>>());
            }
        }
        (!methods.is_empty()).then_some(methods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fit_whole_segments() {
        assert!(fits("/v1/tenants/{tenant}/keys", "/v1/tenants/ten_1/keys"));
        assert!(!fits("/v1/tenants/{tenant}/keys", "/v1/tenants//keys"));
        assert!(!fits("/v1/tenants/{tenant}/keys", "/v1/tenants/ten_1/keys/x"));
        assert!(!fits("/v1/tenants", "/v1/tenants/"));
        assert!(fits("/v1/tenants/{tenant}/notifications:batch", "/v1/tenants/t/notifications:batch"));
    }
}
