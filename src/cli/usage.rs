//! `tenantgate usage [--tenant ID] [--from D] [--to D] [--format table|csv|json]`: what the
//! usage routes show, read straight from the database (counts still buffered in a running
//! replica arrive within `USAGE_FLUSH_SECONDS`).

use clap::{Args, ValueEnum};

use super::{CliResult, Missing, connect, load_config};
use crate::services::usage::{
    self as service, TenantUsage, UsageDay, UsageQuery, UsageReport, UsageTotals,
};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Args)]
pub struct UsageArgs {
    /// One tenant, per day and model; without it, every tenant's totals.
    #[arg(long)]
    tenant: Option<String>,
    /// First day, YYYY-MM-DD (default: the 1st of this month, UTC).
    #[arg(long)]
    from: Option<String>,
    /// Last day, YYYY-MM-DD, inclusive (default: the end of this month).
    #[arg(long)]
    to: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

const COLUMNS: &str =
    "requests,chat_requests,retrievals,prompt_tokens,completion_tokens,total_tokens";

fn numbers(t: &UsageTotals, sep: &str, width: usize) -> String {
    [
        t.requests,
        t.chat_requests,
        t.retrievals,
        t.prompt_tokens,
        t.completion_tokens,
        t.total_tokens,
    ]
    .iter()
    .map(|n| format!("{n:>width$}"))
    .collect::<Vec<_>>()
    .join(sep)
}

fn table_header(first: &str) -> String {
    let cols: Vec<String> = COLUMNS.split(',').map(|c| format!("{c:>17}")).collect();
    format!("{first}  {}", cols.join("  "))
}

/// CSV fields are ids, dates and model names; quote any that need it.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

pub async fn run(args: UsageArgs) -> anyhow::Result<()> {
    let config = load_config()?;
    let mut conn = connect(&config.database).await?;
    let range = UsageQuery {
        from: args.from,
        to: args.to,
    }
    .range()?;
    match args.tenant {
        Some(tenant) => {
            let report = service::report(&mut conn, &tenant, range)
                .await
                .or_missing(Missing::Tenant(&tenant))?;
            print_report(&report, args.format);
        }
        None => print_all(&service::all(&mut conn, range).await?, args.format),
    }
    Ok(())
}

fn day_totals(d: &UsageDay) -> UsageTotals {
    UsageTotals {
        requests: d.requests,
        chat_requests: d.chat_requests,
        retrievals: d.retrievals,
        prompt_tokens: d.prompt_tokens,
        completion_tokens: d.completion_tokens,
        total_tokens: d.total_tokens,
    }
}

/// One tenant, per day and model.
fn print_report(report: &UsageReport, format: Format) {
    match format {
        Format::Json => println!("{}", pretty(report)),
        Format::Csv => {
            println!("day,model,{COLUMNS}");
            for d in &report.days {
                let t = day_totals(d);
                println!("{},{},{}", d.day, csv_field(&d.model), numbers(&t, ",", 0));
            }
        }
        Format::Table => {
            println!(
                "{}",
                table_header(&format!("{:<10}  {:<24}", "day", "model"))
            );
            for d in &report.days {
                let t = day_totals(d);
                let model = if d.model.is_empty() { "-" } else { &d.model };
                println!("{:<10}  {:<24}  {}", d.day, model, numbers(&t, "  ", 17));
            }
            println!(
                "{:<36}  {}",
                format!("total {}..{}", report.from, report.to),
                numbers(&report.totals, "  ", 17)
            );
        }
    }
}

/// Every tenant's totals.
fn print_all(all: &[TenantUsage], format: Format) {
    match format {
        Format::Json => println!("{}", pretty(&all)),
        Format::Csv => {
            println!("tenant_id,{COLUMNS}");
            for t in all {
                println!("{},{}", csv_field(&t.tenant_id), numbers(&t.totals, ",", 0));
            }
        }
        Format::Table => {
            println!("{}", table_header(&format!("{:<24}", "tenant")));
            for t in all {
                println!("{:<24}  {}", t.tenant_id, numbers(&t.totals, "  ", 17));
            }
        }
    }
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
