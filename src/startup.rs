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
use crate::audit::location::{OpenMode, StoreLocation};
use crate::audit::postgres::PostgresOptions;
use crate::config::Settings;
use crate::model::ensemble::ModelSet;
use crate::rules::registry::RuleRegistry;
use crate::service::model_sets::{ModelHolder, ModelSetRegistry};
use crate::service::provenance::{ProvenancePolicy, ReferenceKey};
use crate::service::rule_evaluation::RuleEvaluation;
use crate::service::{Assessor, RuleSource};

/// The configured sites and the reference key (read once; its content is never logged).
///
/// # Errors
/// An unreadable or too short `reference_hmac_key_file`.
pub fn provenance_policy(settings: &Settings) -> anyhow::Result<ProvenancePolicy> {
    let reference_key = match &settings.reference_hmac_key_file {
        None => None,
        Some(path) => Some(Arc::new(ReferenceKey::from_file(path)?)),
    };
    tracing::info!(
        sites = settings.sites.len(),
        reference_key = reference_key.is_some(),
        "assessment origins"
    );
    Ok(ProvenancePolicy {
        sites: settings.sites.clone(),
        reference_key,
    })
}

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
        let location = StoreLocation::parse(&settings.audit_store)
            .map_err(|constraint| anyhow::anyhow!("setting audit_store: {constraint}"))?;
        let mode = if settings.audit_migrate_at_start {
            OpenMode::Migrate
        } else {
            OpenMode::NoMigration
        };
        let store = location
            .open(mode, &postgres_options(settings))
            .with_context(|| format!("opening audit store {}", location.describe()))?;
        tracing::info!(audit_store = %location.describe(), "audit store open");
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
        let rules = RuleRegistry::open(store.clone(), shipped, &model_set_ref(&models))
            .context("opening the rule-set registry")?;
        {
            let active = rules.active();
            tracing::info!(version = %active.activation.version, sha256 = %active.activation.sha256, activated_by = %active.activation.activated_by, "rule set active");
        }
        let models = Arc::new(models);
        let rules = Arc::new(rules);
        poll_activations(&rules, settings.activation_poll_ms);
        let model_sets = Arc::new(
            ModelSetRegistry::open(
                store.clone(),
                Arc::new(ModelHolder::new(models.clone())),
                settings.model_sets_dir.clone(),
            )
            .context("applying the latest model-set activation")?,
        );
        {
            let active = model_sets.holder().current();
            let set = active.models.set_manifest();
            tracing::info!(id = %set.id, version = %set.version, model_sets_dir = ?settings.model_sets_dir, "model set answering");
        }
        poll_model_set_activations(&model_sets, settings.activation_poll_ms);
        let provenance = provenance_policy(settings)?;
        let assessor = Arc::new(
            Assessor::with_holder(
                model_sets.holder().clone(),
                RuleSource::Registry(rules.clone()),
                Some(store.clone()),
            )
            .with_provenance(provenance),
        );
        let rule_evaluation = RuleEvaluation {
            assessor: assessor.clone(),
            registry: rules.clone(),
            store: store.clone(),
        };
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener
            .local_addr()
            .context("reading the bound address")?
            .port();
        let cds = cds_state(settings, &models, port)?;
        let state = web::Data::new(AppState {
            store,
            rules,
            model_sets,
            assessor,
            rule_evaluation,
            keys: KeyRing::new(&settings.api_keys, settings.dev_mode_no_auth),
            capacity: Arc::new(Semaphore::new(settings.max_in_flight)),
            max_body_bytes: settings.max_body_bytes,
            max_batch_body_bytes: settings.max_batch_body_bytes,
            quality_min_group_size: settings.quality_min_group_size,
            cds,
        });
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

/// PostgreSQL connection settings from the server settings.
pub fn postgres_options(settings: &Settings) -> PostgresOptions {
    PostgresOptions {
        pool_size: settings.audit_pool_size,
        timeout: std::time::Duration::from_millis(settings.audit_timeout_ms),
    }
}

/// Starts the thread that applies rule-set activations made by other replicas sharing the store
/// (every `interval_ms`; 0 = never). It holds the registry weakly and ends with it.
fn poll_activations(rules: &Arc<RuleRegistry>, interval_ms: u64) {
    if interval_ms == 0 {
        return;
    }
    let registry = Arc::downgrade(rules);
    let interval = std::time::Duration::from_millis(interval_ms);
    let spawned = std::thread::Builder::new()
        .name("periop-activation-poll".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            let Some(rules) = registry.upgrade() else {
                return;
            };
            match rules.refresh() {
                Ok(Some(activation)) => tracing::info!(version = %activation.version, sha256 = %activation.sha256, activated_by = %activation.activated_by, "rule set activated by another replica is now active"),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not look for rule-set activations; the active rule set is unchanged"),
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the activation poll; activations by other replicas reach this one only at restart");
    }
}

/// Starts the thread that applies model-set activations made by other replicas sharing the
/// store (every `interval_ms`; 0 = never). It holds the registry weakly and ends with it.
fn poll_model_set_activations(sets: &Arc<ModelSetRegistry>, interval_ms: u64) {
    if interval_ms == 0 {
        return;
    }
    let registry = Arc::downgrade(sets);
    let interval = std::time::Duration::from_millis(interval_ms);
    let spawned = std::thread::Builder::new()
        .name("periop-model-activation-poll".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            let Some(sets) = registry.upgrade() else {
                return;
            };
            match sets.refresh() {
                Ok(Some(a)) => tracing::info!(version = %a.version, activated_by = %a.activated_by, "model set activated by another replica now answers"),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not apply model-set activations; the answering set is unchanged"),
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the model-set activation poll; activations by other replicas reach this one only at restart");
    }
}

/// The model set identity stored with rule-registry records.
fn model_set_ref(models: &ModelSet) -> serde_json::Value {
    let set = models.set_manifest();
    serde_json::json!({ "id": set.id, "version": set.version })
}

/// The CDS Hooks state: the public URL (configured, or the bound loopback address), the model
/// set's FHIR mapping, and the client authenticator built from `cds_issuers`.
fn cds_state(
    settings: &Settings,
    models: &ModelSet,
    port: u16,
) -> anyhow::Result<crate::api::routes::cds_hooks::CdsState> {
    use crate::ehr::jwt::{CdsAuthPolicy, CdsAuthenticator, CdsIssuer};
    let public_url = if settings.public_url.is_empty() {
        let host = settings
            .bind
            .rsplit_once(':')
            .map_or("127.0.0.1", |(host, _)| host);
        format!("http://{host}:{port}")
    } else {
        settings.public_url.trim_end_matches('/').to_string()
    };
    let mappings = crate::ehr::mapping::SetMappings::new(models)
        .context("the model set's FHIR mapping (ehr/fhir-mapping.json) is invalid")?;
    if models.fhir_mapping_bytes().is_none() {
        tracing::warn!("the model set ships no FHIR mapping: CDS Hooks calls answer 503");
    }
    if settings.cds_development_mode {
        tracing::warn!("CDS HOOKS DEVELOPMENT MODE: CDS Hooks calls are accepted without a JWT (cds_development_mode = true); never use this with real patients");
    }
    let authenticator = if settings.cds_issuers.is_empty() {
        if !settings.cds_development_mode {
            tracing::info!(
                "no CDS Hooks client configured (cds_issuers): CDS Hooks calls are refused"
            );
        }
        None
    } else {
        let policy = CdsAuthPolicy {
            issuers: settings
                .cds_issuers
                .iter()
                .map(|i| CdsIssuer {
                    iss: i.iss.clone(),
                    tenant: i.tenant.clone(),
                    jwks_file: i.jwks_file.clone(),
                    jku_allowed: i.jku_allowed.clone(),
                })
                .collect(),
            allow_es256_rs256: settings.cds_allow_es256_rs256,
            ..CdsAuthPolicy::default()
        };
        let authenticator =
            CdsAuthenticator::new(policy).context("setting cds_issuers is unusable")?;
        tracing::info!(clients = settings.cds_issuers.len(), public_url = %public_url, "CDS Hooks clients configured");
        Some(authenticator)
    };
    let fetcher = crate::ehr::cds::fetch::FhirFetcher::new(&crate::ehr::cds::fetch::FetchPolicy {
        allowed_servers: settings.cds_fhir_servers.clone(),
        timeout: std::time::Duration::from_millis(settings.cds_fhir_timeout_ms),
    })
    .context("settings cds_fhir_servers / cds_fhir_timeout_ms are unusable")?;
    if !settings.cds_fhir_servers.is_empty() {
        tracing::info!(
            servers = settings.cds_fhir_servers.len(),
            "CDS Hooks: missing prefetch is read from the allow-listed FHIR servers"
        );
    }
    Ok(crate::api::routes::cds_hooks::CdsState {
        authenticator,
        development_mode: settings.cds_development_mode,
        mappings,
        public_url,
        fetcher,
    })
}
