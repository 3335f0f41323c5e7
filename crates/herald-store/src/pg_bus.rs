//! The default bus between nodes on PostgreSQL: LISTEN/NOTIFY on the
//! database the nodes already share, so several nodes need no other service.

use std::time::Duration;

use herald_core::cluster::{Announcement, BoxError, BoxFuture, Bus, BusEvent, BusListener};
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, Statement};

use crate::{Store, StoreError};

/// The NOTIFY channel.
pub const CHANNEL: &str = "herald_commits";

const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// LISTEN/NOTIFY on the store's own database.
#[derive(Debug, Clone)]
pub struct PgBus {
    store: Store,
}

impl PgBus {
    pub fn new(store: Store) -> Result<Self, StoreError> {
        if !store.is_postgres() {
            return Err(StoreError::Config("the postgres bus needs a PostgreSQL database".into()));
        }
        Ok(Self { store })
    }
}

impl Bus for PgBus {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn announce<'a>(&'a self, announcements: &'a [Announcement]) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            for a in announcements {
                let stmt = Statement::from_sql_and_values(
                    self.store.dialect().backend(),
                    "SELECT pg_notify($1, $2)",
                    [CHANNEL.into(), a.encode().into()],
                );
                self.store.db.execute_raw(stmt).await?;
            }
            Ok(())
        })
    }

    fn listen(&self) -> Box<dyn BusListener> {
        Box::new(PgBusListener { url: self.store.url.to_string(), listener: None, backoff: Duration::ZERO })
    }
}

struct PgBusListener {
    url: String,
    listener: Option<PgListener>,
    /// Delay before the next connection attempt; zero after a success.
    backoff: Duration,
}

impl PgBusListener {
    async fn connect(&self) -> Result<PgListener, sea_orm::sqlx::Error> {
        let mut l = PgListener::connect(&self.url).await?;
        l.listen(CHANNEL).await?;
        Ok(l)
    }
}

impl BusListener for PgBusListener {
    fn next_event(&mut self) -> BoxFuture<'_, BusEvent> {
        Box::pin(async move {
            loop {
                let Some(listener) = self.listener.as_mut() else {
                    if !self.backoff.is_zero() {
                        tokio::time::sleep(self.backoff).await;
                    }
                    match self.connect().await {
                        Ok(l) => {
                            self.listener = Some(l);
                            self.backoff = Duration::ZERO;
                            return BusEvent::Connected;
                        }
                        Err(e) => {
                            self.backoff = (self.backoff * 2).clamp(Duration::from_millis(250), MAX_BACKOFF);
                            tracing::warn!(error = %e, retry_in_ms = self.backoff.as_millis() as u64, "could not LISTEN on PostgreSQL");
                            continue;
                        }
                    }
                };
                // `Ok(None)`: the connection dropped; we reconnect ourselves
                // so that the loss is seen and logged.
                let why = match listener.try_recv().await {
                    Ok(Some(n)) => match Announcement::decode(n.payload()) {
                        Some(a) => return BusEvent::Announcement(a),
                        None => continue,
                    },
                    Ok(None) => "the LISTEN connection closed".to_owned(),
                    Err(e) => e.to_string(),
                };
                self.listener = None;
                self.backoff = Duration::from_millis(250);
                return BusEvent::Disconnected(why);
            }
        })
    }
}
