//! `periop keys new --role R [--id ID]`: a new API key, printed once, with the config entry that
//! holds only its SHA-256.

use crate::api::auth::new_key;
use crate::config::Role;
use crate::model::manifest::sha256_hex;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Print a new key and the `[[api_keys]]` entry to add to the config file.
    New {
        /// ehr, clinician, quality or admin.
        #[arg(long)]
        role: String,
        /// Identifier recorded in the audit trail (default: the role and a random suffix).
        #[arg(long)]
        id: Option<String>,
    },
}

/// Runs the keys command.
///
/// # Errors
/// An unknown role.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        KeysCommand::New { role, id } => {
            let role = Role::parse(role).ok_or_else(|| {
                anyhow::anyhow!("--role must be one of ehr, clinician, quality, admin")
            })?;
            let key = new_key();
            let id = id.clone().unwrap_or_else(|| {
                format!("{}-{}", role.as_str(), &sha256_hex(key.as_bytes())[..8])
            });
            println!("API key (shown once; store it in the client's secret store):\n  {key}\n");
            println!("Add to the server config (periop.toml):\n[[api_keys]]\nid = \"{id}\"\nrole = \"{}\"\nsha256 = \"{}\"", role.as_str(), sha256_hex(key.as_bytes()));
            println!(
                "\nor as PERIOP_API_KEYS entry: {id}:{}:{}",
                role.as_str(),
                sha256_hex(key.as_bytes())
            );
            Ok(())
        }
    }
}
