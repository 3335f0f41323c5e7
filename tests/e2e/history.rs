//! History browsing for admins: a channel's notifications, newest first,
//! filtered and paged.

use serde_json::{Value, json};

use crate::harness::*;

fn ids(page: &Value) -> Vec<i64> {
    page["items"].as_array().unwrap().iter().map(|n| n["id"].as_i64().unwrap()).collect()
}

e2e! {
    async fn admins_page_through_a_channels_history_with_filters(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let mut published = Vec::new();
        for i in 0..7 {
            let body = match i % 3 {
                0 => json!({"type": "order.created", "data": {"n": i}}),
                1 => json!({"type": "order.shipped", "data": {"n": i}, "recipients": ["42"]}),
                _ => json!({"type": "order.shipped", "data": {"n": i}, "recipients": ["7"]}),
            };
            published.push(s.publish(&t, "orders", body).await);
        }
        s.publish(&t, "other", json!({"type": "order.created"})).await;
        let base = format!("/v1/tenants/{}/channels/orders/notifications", t.id);

        // Every page, newest first, with no gap and no repeat.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after { Some(a) => format!("{base}?limit=3&after={a}"), None => format!("{base}?limit=3") };
            let (st, page) = s.get(&path, &t.admin_key).await;
            assert_eq!(st, 200, "{page}");
            seen.extend(ids(&page));
            match page["next"].as_str() { Some(n) => after = Some(n.to_owned()), None => break }
        }
        let mut newest_first = published.clone();
        newest_first.reverse();
        assert_eq!(seen, newest_first);

        let (_, page) = s.get(&format!("{base}?limit=1"), &t.admin_key).await;
        let item = &page["items"][0];
        assert_eq!(item["channel"], "orders");
        assert_eq!(item["type"], "order.created");
        assert_eq!(item["data"], json!({"n": 6}));
        assert_eq!(item["recipients"], Value::Null);
        assert!(item["created_at"].as_str().unwrap().ends_with('Z'));

        let (_, page) = s.get(&format!("{base}?type=order.created"), &t.admin_key).await;
        assert_eq!(ids(&page), vec![published[6], published[3], published[0]]);
        // A recipient's view: what is addressed to them and what is for everyone.
        let (_, page) = s.get(&format!("{base}?recipient=42"), &t.admin_key).await;
        assert_eq!(ids(&page), vec![published[6], published[4], published[3], published[1], published[0]]);
        assert_eq!(page["items"][1]["recipients"], json!(["42"]));
        let (_, page) = s.get(&format!("{base}?recipient=42&type=order.shipped"), &t.admin_key).await;
        assert_eq!(ids(&page), vec![published[4], published[1]]);

        // Time range: everything is after an hour ago, nothing before it.
        let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (_, page) = s.get(&format!("{base}?since={hour_ago}"), &t.admin_key).await;
        assert_eq!(ids(&page).len(), 7);
        let (_, page) = s.get(&format!("{base}?until={hour_ago}"), &t.admin_key).await;
        assert_eq!(ids(&page), Vec::<i64>::new());
        assert_eq!(page["next"], Value::Null);
    }
}

e2e! {
    async fn history_refuses_bad_input_and_other_tenants(b) {
        let s = Server::start(b).await;
        let t = s.tenant("acme").await;
        let other = s.tenant("globex").await;
        s.publish(&t, "orders", json!({"type": "x"})).await;
        let base = format!("/v1/tenants/{}/channels/orders/notifications", t.id);
        for (query, status) in [("limit=0", 400), ("limit=1001", 400), ("limit=abc", 400), ("since=yesterday", 400), ("after=abc", 422), ("type=bad%20type", 422)] {
            let (st, body) = s.get(&format!("{base}?{query}"), &t.admin_key).await;
            assert_eq!(st, status, "{query}: {body}");
            assert!(body["type"].as_str().unwrap().starts_with("urn:herald:problem:"), "{body}");
        }
        assert_eq!(s.get(&format!("/v1/tenants/{}/channels/nope/notifications", t.id), &t.admin_key).await.0, 404);
        assert_eq!(s.get(&base, &t.publish_key).await.0, 403, "publish keys cannot browse");
        assert_eq!(s.get(&base, &other.admin_key).await.0, 403, "another tenant's admin cannot browse");
        // The other tenant's own channel of the same name holds none of it.
        s.publish(&other, "orders", json!({"type": "y"})).await;
        let (_, page) = s.get(&format!("/v1/tenants/{}/channels/orders/notifications", other.id), &other.admin_key).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        assert_eq!(page["items"][0]["type"], "y");
    }
}
