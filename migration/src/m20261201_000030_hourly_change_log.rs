//! A change log of the hourly table: `hourly_changes(hour, changes)` counts, per UTC hour, the
//! rows inserted, updated or deleted there, kept by triggers (as TimescaleDB's invalidation log
//! does for its continuous aggregates). The freshness probe reads it, so that a rewrite of any
//! hour, of any age and kind (counts moved between countries included), is noticed within one
//! probe interval; `refresh-rollups` rebuilds the days it names and removes what it consumed.
//!
//! [`change_log_sql`] prints the same statements for a DBA whose table the service does not own.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

pub struct Migration {
    pub hourly_table: String,
}

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000030_hourly_change_log"
    }
}

/// The statements that create the change log and its triggers on `table` (a validated
/// identifier: the setting `database.table`).
pub fn change_log_sql(backend: DatabaseBackend, table: &str) -> Vec<String> {
    match backend {
        // Statement triggers with transition tables: one upsert per statement and hour, so a
        // COPY of millions of rows costs a grouped scan of them, not a function call per row.
        // PostgreSQL allows transition tables on one event per trigger, hence three.
        DatabaseBackend::Postgres => {
            let mut statements = vec![
                "CREATE TABLE IF NOT EXISTS hourly_changes (hour TIMESTAMP NOT NULL PRIMARY KEY, changes BIGINT NOT NULL)".to_string(),
                "CREATE OR REPLACE FUNCTION stats_hourly_change() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN \
                   IF TG_OP IN ('INSERT', 'UPDATE') THEN \
                     INSERT INTO hourly_changes (hour, changes) \
                     SELECT date_trunc('hour', start_dttm), count(*) FROM new_rows GROUP BY 1 \
                     ON CONFLICT (hour) DO UPDATE SET changes = hourly_changes.changes + EXCLUDED.changes; \
                   END IF; \
                   IF TG_OP IN ('DELETE', 'UPDATE') THEN \
                     INSERT INTO hourly_changes (hour, changes) \
                     SELECT date_trunc('hour', start_dttm), count(*) FROM old_rows GROUP BY 1 \
                     ON CONFLICT (hour) DO UPDATE SET changes = hourly_changes.changes + EXCLUDED.changes; \
                   END IF; \
                   RETURN NULL; \
                 END $$".to_string(),
            ];
            for (op, event, tables) in [
                ("ins", "INSERT", "NEW TABLE AS new_rows"),
                (
                    "upd",
                    "UPDATE",
                    "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                ),
                ("del", "DELETE", "OLD TABLE AS old_rows"),
            ] {
                statements.push(format!(
                    "DROP TRIGGER IF EXISTS \"{table}_changes_{op}\" ON \"{table}\""
                ));
                statements.push(format!(
                    "CREATE TRIGGER \"{table}_changes_{op}\" AFTER {event} ON \"{table}\" \
                     REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION stats_hourly_change()"
                ));
            }
            statements
        }
        DatabaseBackend::MySql => {
            let log = |row: &str| {
                format!(
                    "INSERT INTO hourly_changes (hour, changes) VALUES \
                     (DATE_FORMAT({row}.start_dttm, '%Y-%m-%d %H:00:00'), 1) \
                     ON DUPLICATE KEY UPDATE changes = changes + 1"
                )
            };
            vec![
                "CREATE TABLE IF NOT EXISTS hourly_changes (hour DATETIME NOT NULL PRIMARY KEY, changes BIGINT NOT NULL)".into(),
                format!("DROP TRIGGER IF EXISTS `{table}_changes_ins`"),
                format!("DROP TRIGGER IF EXISTS `{table}_changes_upd`"),
                format!("DROP TRIGGER IF EXISTS `{table}_changes_del`"),
                format!("CREATE TRIGGER `{table}_changes_ins` AFTER INSERT ON `{table}` FOR EACH ROW {}", log("NEW")),
                format!(
                    "CREATE TRIGGER `{table}_changes_upd` AFTER UPDATE ON `{table}` FOR EACH ROW BEGIN {}; {}; END",
                    log("NEW"),
                    log("OLD")
                ),
                format!("CREATE TRIGGER `{table}_changes_del` AFTER DELETE ON `{table}` FOR EACH ROW {}", log("OLD")),
            ]
        }
        // SQLite, and any backend sea-orm adds later, get SQLite's dialect.
        _ => {
            let log = |row: &str| {
                format!(
                    "INSERT INTO hourly_changes (hour, changes) VALUES \
                     (strftime('%Y-%m-%d %H:00:00', {row}.start_dttm), 1) \
                     ON CONFLICT (hour) DO UPDATE SET changes = changes + 1;"
                )
            };
            vec![
                "CREATE TABLE IF NOT EXISTS hourly_changes (hour TEXT NOT NULL PRIMARY KEY, changes INTEGER NOT NULL)".into(),
                format!(
                    "CREATE TRIGGER IF NOT EXISTS \"{table}_changes_ins\" AFTER INSERT ON \"{table}\" BEGIN {} END",
                    log("NEW")
                ),
                format!(
                    "CREATE TRIGGER IF NOT EXISTS \"{table}_changes_upd\" AFTER UPDATE ON \"{table}\" BEGIN {} {} END",
                    log("NEW"),
                    log("OLD")
                ),
                format!(
                    "CREATE TRIGGER IF NOT EXISTS \"{table}_changes_del\" AFTER DELETE ON \"{table}\" BEGIN {} END",
                    log("OLD")
                ),
            ]
        }
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        for statement in change_log_sql(manager.get_database_backend(), &self.hourly_table) {
            conn.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        let table = &self.hourly_table;
        let statements: Vec<String> = match manager.get_database_backend() {
            DatabaseBackend::Postgres => ["ins", "upd", "del"]
                .map(|op| format!("DROP TRIGGER IF EXISTS \"{table}_changes_{op}\" ON \"{table}\""))
                .into_iter()
                .chain(["DROP FUNCTION IF EXISTS stats_hourly_change()".to_string()])
                .collect(),
            DatabaseBackend::MySql => ["ins", "upd", "del"]
                .map(|op| format!("DROP TRIGGER IF EXISTS `{table}_changes_{op}`"))
                .to_vec(),
            _ => ["ins", "upd", "del"]
                .map(|op| format!("DROP TRIGGER IF EXISTS \"{table}_changes_{op}\""))
                .to_vec(),
        };
        for statement in statements {
            conn.execute_unprepared(&statement).await?;
        }
        conn.execute_unprepared("DROP TABLE IF EXISTS hourly_changes")
            .await?;
        Ok(())
    }
}
