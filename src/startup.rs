//! Building and running the server: load and verify the model set (refuse to start on a tampered
//! set), open the audit store, bind (port 0 works: the bound port is reported), and serve until
//! SIGINT/SIGTERM, finishing in-flight requests (actix's graceful shutdown).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tokio::sync::Semaphore;

use crate::api::{self, auth::KeyRing, AppState};
use crate::audit::sqlite::SqliteAuditStore;
use crate::config::Settings;
use crate::model::ensemble::ModelSet;
use crate::rules::registry::RuleRegistry;
use crate::service::rule_evaluation::RuleEvaluation;
use crate::service::{Assessor, RuleSource};

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Loads everything and binds.
    ///
    /// # Errors
    /// A model set that fails verification, an audit store that cannot be opened, or a bind failure.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let models = ModelSet::load(&settings.models)
            .with_context(|| format!("loading model set {}", settings.models.display()))?;
        let store = SqliteAuditStore::open(&settings.audit_store)
            .with_context(|| format!("opening audit store {}", settings.audit_store.display()))?;
        if settings.dev_mode_no_auth {
            tracing::warn!("DEVELOPMENT MODE: no API key is required (dev_mode_no_auth = true); never use this with real patients");
        }
        tracing::info!(model_set = %models.set_manifest().id, version = %models.set_manifest().version, synthetic = models.set_manifest().training_data.synthetic, "model set loaded and verified");
        let shipped = crate::rules::shipped::load(&settings.models).with_context(|| {
            format!(
                "loading the rule set of model set {}",
                settings.models.display()
            )
        })?;
        let store: Arc<dyn crate::audit::AuditStore> = Arc::new(store);
        let rules = RuleRegistry::open(store.clone(), shipped, &model_set_ref(&models))
            .context("opening the rule-set registry")?;
        {
            let active = rules.active();
            tracing::info!(version = %active.activation.version, sha256 = %active.activation.sha256, activated_by = %active.activation.activated_by, "rule set active");
        }
        let models = Arc::new(models);
        let rules = Arc::new(rules);
        let assessor = Arc::new(Assessor::new(
            models.clone(),
            RuleSource::Registry(rules.clone()),
            Some(store.clone()),
        ));
        let rule_evaluation = RuleEvaluation {
            assessor: assessor.clone(),
            registry: rules.clone(),
            store: store.clone(),
        };
        let state = web::Data::new(AppState {
            models,
            store,
            rules,
            assessor,
            rule_evaluation,
            keys: KeyRing::new(&settings.api_keys, settings.dev_mode_no_auth),
            capacity: Arc::new(Semaphore::new(settings.max_in_flight)),
            max_body_bytes: settings.max_body_bytes,
            max_batch_body_bytes: settings.max_batch_body_bytes,
        });
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener
            .local_addr()
            .context("reading the bound address")?
            .port();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(from_fn(api::request_id))
                .configure(api::configure)
        });
        if settings.workers > 0 {
            server = server.workers(settings.workers);
        }
        let server = server.listen(listener).context("listening")?.run();
        tracing::info!(port, "listening");
        Ok(Self { port, server })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until stopped.
    ///
    /// # Errors
    /// An I/O failure of the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The model set identity stored with rule-registry records.
fn model_set_ref(models: &ModelSet) -> serde_json::Value {
    let set = models.set_manifest();
    serde_json::json!({ "id": set.id, "version": set.version })
}
