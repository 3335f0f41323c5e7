//! The audit log: one row per successful admin change, saying who made it
//! (the operator or an API key), what it was (the route, method, path and
//! status), which tenant it concerned, when, and from which address.
//!
//! Rows outlive their tenant: [`Store::delete_tenant`] leaves them, so the
//! operator can still see who changed, and who deleted, a tenant that is
//! gone. Nothing here holds a request or response body; those carry
//! secrets.
//!
//! Two methods deliberately cross tenants, like the operator's own routes:
//! [`Store::record_audit_event`] (a change may concern no tenant yet) and
//! [`Store::list_audit_events`] (the operator's view of every tenant). A
//! tenant's own view is [`Store::list_tenant_audit_events`], which takes the
//! tenant first and filters by it.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use herald_core::DomainError;
use herald_core::ids::{ApiKeyId, OperatorKeyId, TenantId};
use sea_orm::prelude::Uuid;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::clock::{now_micros, to_datetime};
use crate::entity::audit_event;
use crate::{Store, StoreError};

/// One audit event's id: `aud_` and a UUIDv7, so ids sort by time and a
/// list pages by id alone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuditEventId(String);

impl AuditEventId {
    pub const PREFIX: &'static str = "aud";

    fn generate() -> Self {
        Self(format!("{}_{}", Self::PREFIX, Uuid::now_v7().simple()))
    }

    /// Parses an id (a list cursor), checking its prefix and shape.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let rest = s.strip_prefix("aud_").ok_or_else(|| DomainError::invalid("audit event id", "expected an id starting with `aud_`"))?;
        if rest.is_empty() || rest.len() > 64 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(DomainError::invalid("audit event id", "malformed id"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AuditEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AuditEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditActor {
    /// An operator key: a stored one's id, or `None` for the key configured
    /// in the environment (which has no id) and for `herald operator-key`
    /// run on the database.
    Operator(Option<OperatorKeyId>),
    /// A tenant API key with the `admin` scope.
    ApiKey(ApiKeyId),
}

/// How [`AuditActor::kind`] spells each actor in `actor_kind`.
const OPERATOR: &str = "operator";
const API_KEY: &str = "api_key";

impl AuditActor {
    pub fn kind(&self) -> &'static str {
        match self {
            AuditActor::Operator(_) => OPERATOR,
            AuditActor::ApiKey(_) => API_KEY,
        }
    }

    /// The id of the key that acted (`key_…` or `op_…`), if it has one.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            AuditActor::Operator(id) => id.as_ref().map(OperatorKeyId::as_str),
            AuditActor::ApiKey(id) => Some(id.as_str()),
        }
    }
}

/// A change to record.
#[derive(Debug)]
pub struct NewAuditEvent<'a> {
    pub tenant: Option<&'a TenantId>,
    pub actor: &'a AuditActor,
    /// The route's name, e.g. `create_channel`.
    pub action: &'a str,
    pub method: &'a str,
    /// The request path, without the query string.
    pub path: &'a str,
    pub status: u16,
    /// The TCP peer's address (never a forwarding header).
    pub remote_addr: Option<IpAddr>,
}

/// A recorded change.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub at: DateTime<Utc>,
    pub tenant: Option<TenantId>,
    pub actor: AuditActor,
    pub action: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub remote_addr: Option<IpAddr>,
}

/// Which events to list. `since` is inclusive, `until` exclusive.
#[derive(Debug, Default)]
pub struct AuditFilter<'a> {
    pub action: Option<&'a str>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

fn corrupt<E: fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

fn convert(m: audit_event::Model) -> Result<AuditEvent, StoreError> {
    let actor = match (m.actor_kind.as_str(), m.actor_key_id.as_deref()) {
        (OPERATOR, None) => AuditActor::Operator(None),
        (OPERATOR, Some(id)) => AuditActor::Operator(Some(OperatorKeyId::parse(id).map_err(corrupt("actor operator key id"))?)),
        (API_KEY, Some(id)) => AuditActor::ApiKey(ApiKeyId::parse(id).map_err(corrupt("actor key id"))?),
        (kind, _) => return Err(StoreError::Corrupt(format!("audit actor `{kind}` with key id {:?}", m.actor_key_id))),
    };
    Ok(AuditEvent {
        id: AuditEventId::parse(&m.id).map_err(corrupt("audit event id"))?,
        at: to_datetime(m.created_at),
        tenant: m.tenant_id.as_deref().map(TenantId::parse).transpose().map_err(corrupt("tenant id"))?,
        actor,
        action: m.action,
        method: m.method,
        path: m.path,
        status: u16::try_from(m.status).map_err(corrupt("status"))?,
        remote_addr: m.remote_addr.as_deref().map(str::parse).transpose().map_err(corrupt("remote address"))?,
    })
}

impl Store {
    /// Records one change. Awaited by the request that made it, so the
    /// caller finds it in the log as soon as it has its answer.
    pub async fn record_audit_event(&self, event: &NewAuditEvent<'_>) -> Result<AuditEventId, StoreError> {
        let id = AuditEventId::generate();
        let row_id = id.to_string();
        self.write_autocommit(|db| async move {
            audit_event::ActiveModel {
                id: Set(row_id),
                tenant_id: Set(event.tenant.map(|t| t.to_string())),
                actor_kind: Set(event.actor.kind().to_owned()),
                actor_key_id: Set(event.actor.key_id().map(str::to_owned)),
                action: Set(event.action.to_owned()),
                method: Set(event.method.to_owned()),
                path: Set(event.path.to_owned()),
                status: Set(i32::from(event.status)),
                remote_addr: Set(event.remote_addr.map(|a| a.to_string())),
                created_at: Set(now_micros()),
            }
            .insert(db)
            .await?;
            Ok(())
        })
        .await?;
        Ok(id)
    }

    /// One tenant's events, newest first, before the cursor `after`.
    pub async fn list_tenant_audit_events(
        &self,
        tenant: &TenantId,
        filter: AuditFilter<'_>,
        after: Option<&AuditEventId>,
        limit: u64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.list_audit_events(Some(tenant), filter, after, limit).await
    }

    /// Every tenant's events (or one tenant's, existing or deleted), newest
    /// first, before the cursor `after`. For the operator only.
    pub async fn list_audit_events(
        &self,
        tenant: Option<&TenantId>,
        filter: AuditFilter<'_>,
        after: Option<&AuditEventId>,
        limit: u64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut q = audit_event::Entity::find().order_by_desc(audit_event::Column::Id).limit(limit);
        if let Some(t) = tenant {
            q = q.filter(audit_event::Column::TenantId.eq(t.as_str()));
        }
        if let Some(a) = filter.action {
            q = q.filter(audit_event::Column::Action.eq(a));
        }
        if let Some(s) = filter.since {
            q = q.filter(audit_event::Column::CreatedAt.gte(s.timestamp_micros()));
        }
        if let Some(u) = filter.until {
            q = q.filter(audit_event::Column::CreatedAt.lt(u.timestamp_micros()));
        }
        if let Some(a) = after {
            q = q.filter(audit_event::Column::Id.lt(a.as_str()));
        }
        q.all(&self.db).await?.into_iter().map(convert).collect()
    }
}

#[cfg(test)]
mod tests {
    use herald_core::names::TenantName;

    use super::*;
    use crate::DbKind;
    use crate::test_db::{TestDb, on_each_backend};

    async fn store(kind: DbKind) -> (Store, TestDb) {
        let db = TestDb::new(kind).await;
        (db.store.clone(), db)
    }

    fn event<'a>(tenant: Option<&'a TenantId>, actor: &'a AuditActor, action: &'a str) -> NewAuditEvent<'a> {
        NewAuditEvent {
            tenant,
            actor,
            action,
            method: "POST",
            path: "/v1/somewhere",
            status: 201,
            remote_addr: Some("127.0.0.1".parse().unwrap()),
        }
    }

    async fn events_round_trip_newest_first_and_page_by_id(kind: DbKind) {
        let (store, _db) = store(kind).await;
        let t = TenantId::generate();
        let key = AuditActor::ApiKey(ApiKeyId::generate());
        let mut ids = Vec::new();
        for i in 0..5 {
            let actor = if i % 2 == 0 { &AuditActor::Operator(None) } else { &key };
            ids.push(store.record_audit_event(&event(Some(&t), actor, "create_channel")).await.unwrap());
        }
        let first = store.list_tenant_audit_events(&t, AuditFilter::default(), None, 3).await.unwrap();
        assert_eq!(first.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), vec![ids[4].clone(), ids[3].clone(), ids[2].clone()]);
        assert_eq!(first[1].actor, key);
        assert_eq!(first[0].actor, AuditActor::Operator(None));
        assert_eq!(first[0].remote_addr, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(first[0].status, 201);
        let rest = store.list_tenant_audit_events(&t, AuditFilter::default(), Some(&first[2].id), 3).await.unwrap();
        assert_eq!(rest.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), vec![ids[1].clone(), ids[0].clone()]);
    }

    async fn a_tenants_list_holds_only_its_events_and_filters_apply(kind: DbKind) {
        let (store, _db) = store(kind).await;
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let op = AuditActor::Operator(None);
        store.record_audit_event(&event(Some(&a), &op, "create_channel")).await.unwrap();
        store.record_audit_event(&event(Some(&b), &op, "create_channel")).await.unwrap();
        store.record_audit_event(&event(None, &op, "create_tenant")).await.unwrap();
        store.record_audit_event(&event(Some(&a), &op, "delete_channel")).await.unwrap();

        let of_a = store.list_tenant_audit_events(&a, AuditFilter::default(), None, 100).await.unwrap();
        assert_eq!(of_a.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["delete_channel", "create_channel"]);
        assert!(of_a.iter().all(|e| e.tenant.as_ref() == Some(&a)));

        let all = store.list_audit_events(None, AuditFilter::default(), None, 100).await.unwrap();
        assert_eq!(all.len(), 4);
        let creates = AuditFilter { action: Some("create_channel"), ..Default::default() };
        assert_eq!(store.list_audit_events(None, creates, None, 100).await.unwrap().len(), 2);

        let now = Utc::now();
        let future = AuditFilter { since: Some(now + chrono::Duration::seconds(1)), ..Default::default() };
        assert!(store.list_audit_events(None, future, None, 100).await.unwrap().is_empty());
        let past = AuditFilter { until: Some(now - chrono::Duration::hours(1)), ..Default::default() };
        assert!(store.list_audit_events(None, past, None, 100).await.unwrap().is_empty());
        let window = AuditFilter {
            since: Some(now - chrono::Duration::hours(1)),
            until: Some(now + chrono::Duration::seconds(1)),
            ..Default::default()
        };
        assert_eq!(store.list_audit_events(None, window, None, 100).await.unwrap().len(), 4);
    }

    async fn deleting_a_tenant_keeps_its_events(kind: DbKind) {
        let (store, _db) = store(kind).await;
        let t = store.create_tenant(&TenantName::parse("gone").unwrap()).await.unwrap();
        store.record_audit_event(&event(Some(&t.id), &AuditActor::Operator(None), "delete_tenant")).await.unwrap();
        store.delete_tenant(&t.id).await.unwrap();
        let left = store.list_audit_events(Some(&t.id), AuditFilter::default(), None, 100).await.unwrap();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn ids_sort_by_time_and_parse_strictly() {
        let a = AuditEventId::generate();
        let b = AuditEventId::generate();
        assert!(a < b);
        assert_eq!(AuditEventId::parse(a.as_str()).unwrap(), a);
        for bad in ["", "aud_", "key_abc", "aud_a/b", "aud_ä"] {
            assert!(AuditEventId::parse(bad).is_err(), "{bad}");
        }
    }

    on_each_backend!(
        events_round_trip_newest_first_and_page_by_id,
        a_tenants_list_holds_only_its_events_and_filters_apply,
        deleting_a_tenant_keeps_its_events
    );
}
