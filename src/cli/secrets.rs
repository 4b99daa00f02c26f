//! `tenantgate secrets rotate`: re-encrypt every tenant secret under the current SECRET_KEY.

use clap::Subcommand;

use super::{connect, load_config};
use crate::services::secrets;

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Re-encrypt every stored secret under SECRET_KEY (old keys in SECRET_KEY_PREVIOUS).
    /// Safe to stop and run again.
    Rotate {
        /// Rows per transaction.
        #[arg(long, default_value_t = 100)]
        batch_size: i64,
    },
}

pub async fn run(command: SecretsCommand) -> anyhow::Result<()> {
    let config = load_config()?;
    let mut conn = connect(&config.database).await?;
    match command {
        SecretsCommand::Rotate { batch_size } => {
            if batch_size < 1 {
                anyhow::bail!("--batch-size must be at least 1");
            }
            println!(
                "secrets: rotating to key {} …",
                config.keys.current().id_hex()
            );
            let report = secrets::rotate(&mut conn, &config.keys, batch_size, None).await?;
            let left = secrets::count_outdated(&mut conn, &config.keys).await?;
            println!(
                "secrets: re-encrypted {} secret(s) in {} batch(es); {} already under the current key; {} left under an old key",
                report.rotated, report.batches, report.already_current, left
            );
            let legacy_keys = secrets::count_legacy_api_keys(&mut conn).await?;
            if legacy_keys > 0 {
                println!(
                    "secrets: {legacy_keys} API key(s) made before SHA-256 hashing are still hashed under an old SECRET_KEY; \
                     each is re-hashed the first time it is used. Keep SECRET_KEY_PREVIOUS until this count is 0 \
                     (run `secrets rotate` again to check), or rotate those keys (`api-keys create` + `api-keys revoke`)."
                );
            }
            if left == 0 && legacy_keys == 0 {
                println!("secrets: done. SECRET_KEY_PREVIOUS may now be removed.");
            } else {
                println!("secrets: not done: keep SECRET_KEY_PREVIOUS for now.");
            }
        }
    }
    Ok(())
}
