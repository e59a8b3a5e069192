//! `periop serve [--config periop.toml]`: the assessment API. Settings: compiled-in defaults,
//! then the config file, then `PERIOP_*` environment variables (see `docs/api.md`).

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Settings;
use crate::startup::Application;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// TOML config file (bind, models, audit_store, max_body_bytes, max_in_flight, workers,
    /// dev_mode_no_auth, [[api_keys]]).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Loads the settings and serves until SIGINT/SIGTERM.
///
/// # Errors
/// Invalid settings, a model set that fails verification, an unusable audit store or address.
pub fn run(args: &Args) -> anyhow::Result<()> {
    crate::telemetry::init_logging();
    let settings = Settings::load(args.config.as_deref()).context("loading settings")?;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(&settings)?;
        eprintln!(
            "periop listening on port {} (model set {})",
            app.port(),
            settings.models.display()
        );
        app.run_until_stopped().await.context("serving")
    })
}
