//! `periop audit …`: verify the hash chain (optionally against a signed checkpoint), apply schema
//! migrations, rebuild the search index, take signed checkpoints of the chain head, make checkpoint keys, and copy a store
//! to another backend. Every `--store`, `--from` and `--to` is a SQLite path (or `sqlite:PATH`) or
//! a `postgres://` URL; what is printed names a database without its password. `--store`
//! defaults to `$PERIOP_AUDIT_STORE` (so a password need not be on the command line), else
//! `periop-audit.db`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::audit::checkpoint::{generate_key, key_bytes, Checkpoint};
use crate::audit::copy::copy;
use crate::audit::location::{OpenMode, StoreLocation};
use crate::audit::postgres::PostgresOptions;
use crate::audit::AuditStore;
use crate::clock::{created_at_text, now_millis};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Recompute every link of the audit hash chain. Exits 0 when the chain is intact (and, with
    /// --checkpoint, still holds the checkpointed head), non-zero naming the first broken record
    /// otherwise.
    Verify(VerifyArgs),
    /// Create the store if needed and apply pending schema migrations (`serve` does this at start
    /// unless `audit_migrate_at_start = false`).
    Migrate(StoreArg),
    /// Sign the current chain head and write it to a checkpoint file, to keep outside the store:
    /// `verify --checkpoint` then detects removal of the newest records.
    Checkpoint(CheckpointArgs),
    /// Make an Ed25519 key pair for checkpoints: PREFIX.key (secret, mode 0600) and PREFIX.pub.
    Keygen(KeygenArgs),
    /// Copy every record of a store into a new, empty store of any backend, keeping every seq and
    /// hash (the source must verify; stop its writers first).
    Copy(CopyArgs),
    /// Rebuild the search index (`GET /v1/audit/assessments`) from the records, e.g. after
    /// upgrading a store created before the index existed (searches refuse until then). Migrates
    /// first; appends wait while it runs.
    Reindex(StoreArg),
}

#[derive(Debug, clap::Args)]
pub struct StoreArg {
    /// Audit store: SQLite file (or sqlite:PATH) or postgres:// URL (`verify` and `checkpoint`
    /// open it read-only and never create it).
    #[arg(
        long,
        env = "PERIOP_AUDIT_STORE",
        hide_env_values = true,
        default_value = "periop-audit.db"
    )]
    pub store: String,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// A checkpoint file from `periop audit checkpoint`: the store must still hold its record.
    #[arg(long, requires = "verifying_key")]
    pub checkpoint: Option<PathBuf>,
    /// The public key (PREFIX.pub from `periop audit keygen`) the checkpoint was signed with.
    #[arg(long, requires = "checkpoint")]
    pub verifying_key: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Secret key file (PREFIX.key from `periop audit keygen`).
    #[arg(long)]
    pub signing_key: PathBuf,
    /// Checkpoint file to write.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Writes PREFIX.key and PREFIX.pub; refuses to overwrite either.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// Source store (opened read-only), e.g. sqlite:periop-audit.db.
    #[arg(long)]
    pub from: String,
    /// Target store (created and migrated; must be empty), e.g. postgres://periop@db/periop.
    #[arg(long)]
    pub to: String,
}

/// Runs an `audit` subcommand.
///
/// # Errors
/// When a store cannot be opened or read, the chain is broken, a checkpoint does not hold, or a
/// file cannot be read or written (the error says which).
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        AuditCommand::Verify(v) => verify(v),
        AuditCommand::Migrate(m) => migrate(m),
        AuditCommand::Checkpoint(c) => checkpoint(c),
        AuditCommand::Keygen(k) => keygen(k),
        AuditCommand::Copy(c) => copy_store(c),
        AuditCommand::Reindex(r) => reindex(r),
    }
}

fn open(
    option: &str,
    text: &str,
    mode: OpenMode,
) -> anyhow::Result<(StoreLocation, std::sync::Arc<dyn AuditStore>)> {
    let location = StoreLocation::parse(text).map_err(|e| anyhow::anyhow!("{option}: {e}"))?;
    let store = location
        .open(mode, &PostgresOptions::default())
        .with_context(|| format!("opening audit store {}", location.describe()))?;
    Ok((location, store))
}

fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let (location, store) = open("--store", &args.store.store, OpenMode::ReadOnly)?;
    let report = store
        .verify()
        .with_context(|| format!("verifying audit store {}", location.describe()))?;
    println!("store: {}", location.describe());
    println!("records checked: {}", report.records_checked);
    if let Some(head) = &report.head {
        println!("head: seq {} hash {}", head.seq, head.hash);
    }
    if let Some(link) = &report.first_broken {
        println!("chain BROKEN: {} broken link(s)", report.broken_links);
        anyhow::bail!("audit chain broken; first broken link at {link}");
    }
    println!("chain intact");
    if let (Some(file), Some(key)) = (&args.checkpoint, &args.verifying_key) {
        let checkpoint: Checkpoint = serde_json::from_str(&read(file)?)
            .with_context(|| format!("{} is not a checkpoint file", file.display()))?;
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&key_bytes(&read(key)?, "--verifying-key")?)
                .map_err(|e| anyhow::anyhow!("--verifying-key {}: {e}", key.display()))?;
        checkpoint
            .verify_signature(&key)
            .with_context(|| format!("checkpoint {}", file.display()))?;
        checkpoint
            .check_store(store.as_ref())
            .with_context(|| format!("checkpoint {} (seq {})", file.display(), checkpoint.seq))?;
        println!(
            "checkpoint holds: seq {} hash {} (taken {})",
            checkpoint.seq, checkpoint.hash, checkpoint.created_at
        );
    }
    Ok(())
}

fn migrate(args: &StoreArg) -> anyhow::Result<()> {
    let (location, store) = open("--store", &args.store, OpenMode::Migrate)?;
    println!("store: {}", location.describe());
    println!("schema up to date; {} records", store.count()?);
    Ok(())
}

fn reindex(args: &StoreArg) -> anyhow::Result<()> {
    let (location, store) = open("--store", &args.store, OpenMode::Migrate)?;
    let report = store
        .reindex()
        .with_context(|| format!("reindexing audit store {}", location.describe()))?;
    println!("store: {}", location.describe());
    println!(
        "reindexed: {} records read, {} assessments indexed, {} recorded outcomes indexed",
        report.records, report.assessments, report.outcomes
    );
    Ok(())
}

fn checkpoint(args: &CheckpointArgs) -> anyhow::Result<()> {
    let key = ed25519_dalek::SigningKey::from_bytes(&key_bytes(
        &read(&args.signing_key)?,
        "--signing-key",
    )?);
    let (location, store) = open("--store", &args.store.store, OpenMode::ReadOnly)?;
    let head = store.head()?.ok_or_else(|| {
        anyhow::anyhow!("{} is empty: nothing to checkpoint", location.describe())
    })?;
    let cp = Checkpoint::sign(
        &head,
        &location.describe(),
        &created_at_text(&now_millis()),
        &key,
    );
    let text = serde_json::to_string_pretty(&cp).context("encoding the checkpoint")?;
    std::fs::write(&args.out, format!("{text}\n"))
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "checkpoint: seq {} hash {} -> {}",
        cp.seq,
        cp.hash,
        args.out.display()
    );
    Ok(())
}

fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let secret = args.out.with_extension("key");
    let public = args.out.with_extension("pub");
    for path in [&secret, &public] {
        anyhow::ensure!(
            !path.exists(),
            "{} exists; refusing to overwrite it",
            path.display()
        );
    }
    let key = generate_key();
    write_secret(&secret, &hex::encode(key.to_bytes()))?;
    std::fs::write(
        &public,
        format!("{}\n", hex::encode(key.verifying_key().to_bytes())),
    )
    .with_context(|| format!("writing {}", public.display()))?;
    println!(
        "secret key: {} (keep it off the database host)",
        secret.display()
    );
    println!("public key: {}", public.display());
    Ok(())
}

fn copy_store(args: &CopyArgs) -> anyhow::Result<()> {
    let (from_location, from) = open("--from", &args.from, OpenMode::ReadOnly)?;
    let (to_location, to) = open("--to", &args.to, OpenMode::Migrate)?;
    let report = copy(from.as_ref(), to.as_ref(), |n| {
        if n % 10_000 == 0 {
            eprintln!("{n} records copied");
        }
    })
    .with_context(|| {
        format!(
            "copying {} to {}",
            from_location.describe(),
            to_location.describe()
        )
    })?;
    println!(
        "copied {} records from {} to {}",
        report.records,
        from_location.describe(),
        to_location.describe()
    );
    if let Some(head) = report.head {
        println!(
            "head: seq {} hash {} (identical in both)",
            head.seq, head.hash
        );
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Writes a secret readable by its owner only.
fn write_secret(path: &Path, hex_key: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{hex_key}").with_context(|| format!("writing {}", path.display()))
}
