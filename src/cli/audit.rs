//! `periop audit verify [--store FILE]`: recomputes the audit hash chain and reports the first
//! broken link.

use std::path::PathBuf;

use anyhow::Context;

use crate::audit::{AuditStore, SqliteAuditStore};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Recompute every link of the audit hash chain. Exits 0 when the chain is intact, non-zero
    /// naming the first broken record otherwise.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Audit store (SQLite file); opened read-only, never created.
    #[arg(long, default_value = "periop-audit.db")]
    pub store: PathBuf,
}

/// Runs an `audit` subcommand.
///
/// # Errors
/// When the store cannot be read or the chain is broken (the error names the first broken link).
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        AuditCommand::Verify(v) => verify(v),
    }
}

fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let store = SqliteAuditStore::open_read_only(&args.store)
        .with_context(|| format!("opening audit store {}", args.store.display()))?;
    let report = store
        .verify()
        .with_context(|| format!("verifying audit store {}", args.store.display()))?;
    println!("store: {}", args.store.display());
    println!("records checked: {}", report.records_checked);
    if let Some(head) = &report.head {
        println!("head: seq {} hash {}", head.seq, head.hash);
    }
    match &report.first_broken {
        None => {
            println!("chain intact");
            Ok(())
        }
        Some(link) => {
            println!("chain BROKEN: {} broken link(s)", report.broken_links);
            anyhow::bail!("audit chain broken; first broken link at {link}")
        }
    }
}
