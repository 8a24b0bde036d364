//! Staff users of the console, their agency scope, their sessions (kept as SHA-256 of the
//! session id) and the wrong-password throttle per typed username.

use super::types::{Millis, OptMillis};
use super::{Result, Store, Tx};
use sqlx::FromRow;

/// A staff user (without the agencies; see [`Store::staff_agencies`]).
#[derive(Debug, Clone, FromRow)]
pub struct StaffRow {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub disabled: bool,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
}

/// A live session with its user, as one read.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id_hash: String,
    pub username: String,
    #[sqlx(try_from = "Millis")]
    pub created_at: i64,
    #[sqlx(try_from = "Millis")]
    pub last_seen_at: i64,
    pub display_name: String,
    pub role: String,
    pub disabled: bool,
}

/// The wrong-password count of a username, and until when it is locked.
#[derive(Debug, Clone, FromRow)]
pub struct ThrottleRow {
    pub failures: i64,
    #[sqlx(try_from = "OptMillis")]
    pub locked_until: Option<i64>,
}

const STAFF_COLS: &str = "username, display_name, role, password_hash, disabled, created_at";

impl Store {
    /// Inserts a staff user and their agencies. An existing username is
    /// [`StoreError::Conflict`](super::StoreError::Conflict), or, with `if_absent`, no change
    /// (`false`).
    pub async fn insert_staff(&self, tx: &mut Tx, s: &StaffRow, agencies: &[String], if_absent: bool) -> Result<bool> {
        let sql = if if_absent {
            "INSERT INTO staff_users (username, display_name, role, password_hash, disabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING"
        } else {
            "INSERT INTO staff_users (username, display_name, role, password_hash, disabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        };
        let n = on_tx!(tx, |db| sqlx::query(sql)
            .bind(&s.username)
            .bind(&s.display_name)
            .bind(&s.role)
            .bind(&s.password_hash)
            .bind(s.disabled)
            .bind(Millis(s.created_at))
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Ok(false);
        }
        for a in agencies {
            on_tx!(tx, |db| sqlx::query("INSERT INTO staff_agencies (username, agency_code) VALUES ($1, $2)")
                .bind(&s.username)
                .bind(a)
                .execute(db)
                .await
                .map(|r| r.rows_affected()))?;
        }
        Ok(true)
    }

    /// A staff user by username.
    pub async fn staff(&self, username: &str) -> Result<Option<StaffRow>> {
        let sql = format!("SELECT {STAFF_COLS} FROM staff_users WHERE username = $1");
        Ok(on_pool!(self, |db| sqlx::query_as(&sql).bind(username).fetch_optional(db).await)?)
    }

    /// Every staff user, by username.
    pub async fn staff_users(&self) -> Result<Vec<StaffRow>> {
        let sql = format!("SELECT {STAFF_COLS} FROM staff_users ORDER BY username");
        Ok(on_pool!(self, |db| sqlx::query_as(&sql).fetch_all(db).await)?)
    }

    /// The agencies a staff user is bound to (empty: all).
    pub async fn staff_agencies(&self, username: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(self, |db| sqlx::query_as(
            "SELECT agency_code FROM staff_agencies WHERE username = $1 ORDER BY agency_code"
        )
        .bind(username)
        .fetch_all(db)
        .await)?;
        Ok(rows.into_iter().map(|(a,)| a).collect())
    }

    /// The throttle of a typed username, if it ever failed.
    pub async fn sign_in_throttle(&self, username: &str) -> Result<Option<ThrottleRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT failures, locked_until FROM staff_sign_in_throttle WHERE username = $1"
        )
        .bind(username)
        .fetch_optional(db)
        .await)?)
    }

    /// Counts one wrong password for `username` in one statement (two concurrent failures
    /// both count); a count last touched before `stale_before` starts again at 1. Locks the
    /// name until `lock_until` once the count reaches `lock_after` (the count restarts).
    /// Returns the count and the lock.
    pub async fn record_sign_in_failure(
        &self,
        tx: &mut Tx,
        username: &str,
        now: i64,
        stale_before: i64,
        lock_after: i64,
        lock_until: i64,
    ) -> Result<ThrottleRow> {
        let (failures,): (i64,) = on_tx!(tx, |db| {
            sqlx::query_as(
            "INSERT INTO staff_sign_in_throttle (username, failures, locked_until, updated_at) VALUES ($1, 1, NULL, $2) \
             ON CONFLICT (username) DO UPDATE SET failures = CASE \
                 WHEN staff_sign_in_throttle.updated_at < $3 THEN 1 ELSE staff_sign_in_throttle.failures + 1 END, \
             updated_at = $2 RETURNING failures",
        )
        .bind(username)
        .bind(Millis(now))
        .bind(Millis(stale_before))
        .fetch_one(db)
        .await
        })?;
        if failures < lock_after {
            return Ok(ThrottleRow { failures, locked_until: None });
        }
        on_tx!(tx, |db| sqlx::query(
            "UPDATE staff_sign_in_throttle SET failures = 0, locked_until = $2 WHERE username = $1"
        )
        .bind(username)
        .bind(Millis(lock_until))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(ThrottleRow { failures, locked_until: Some(lock_until) })
    }

    /// Forgets the wrong passwords of `username` (after a right one).
    pub async fn clear_sign_in_throttle(&self, tx: &mut Tx, username: &str) -> Result<()> {
        on_tx!(tx, |db| sqlx::query("DELETE FROM staff_sign_in_throttle WHERE username = $1")
            .bind(username)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Records a new session.
    pub async fn insert_session(&self, tx: &mut Tx, id_hash: &str, username: &str, now: i64) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(
            "INSERT INTO staff_sessions (id_hash, username, created_at, last_seen_at) VALUES ($1, $2, $3, $3)"
        )
        .bind(id_hash)
        .bind(username)
        .bind(Millis(now))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A session and its user.
    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT s.id_hash, s.username, s.created_at, s.last_seen_at, u.display_name, u.role, u.disabled \
             FROM staff_sessions s JOIN staff_users u ON u.username = s.username WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(db)
        .await)?)
    }

    /// Marks a session as used at `now`.
    pub async fn touch_session(&self, id_hash: &str, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        on_tx!(tx, |db| sqlx::query("UPDATE staff_sessions SET last_seen_at = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(Millis(now))
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        tx.commit().await
    }

    /// Disables or enables a staff user; `false` if there is no such user. Disabling also
    /// ends the user's sessions.
    pub async fn set_staff_disabled(&self, tx: &mut Tx, username: &str, disabled: bool) -> Result<bool> {
        let n = on_tx!(tx, |db| sqlx::query("UPDATE staff_users SET disabled = $1 WHERE username = $2")
            .bind(disabled)
            .bind(username)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 1 && disabled {
            self.end_sessions_of(tx, username).await?;
        }
        Ok(n == 1)
    }

    /// Sets a staff user's password hash and ends their sessions; `false` if there is no
    /// such user.
    pub async fn set_staff_password(&self, tx: &mut Tx, username: &str, password_hash: &str) -> Result<bool> {
        let n = on_tx!(tx, |db| sqlx::query("UPDATE staff_users SET password_hash = $1 WHERE username = $2")
            .bind(password_hash)
            .bind(username)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 1 {
            self.end_sessions_of(tx, username).await?;
        }
        Ok(n == 1)
    }

    /// Ends every session of a user.
    async fn end_sessions_of(&self, tx: &mut Tx, username: &str) -> Result<()> {
        on_tx!(tx, |db| sqlx::query("DELETE FROM staff_sessions WHERE username = $1")
            .bind(username)
            .execute(db)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Ends a session; whether there was one.
    pub async fn delete_session(&self, tx: &mut Tx, id_hash: &str) -> Result<bool> {
        let n = on_tx!(tx, |db| sqlx::query("DELETE FROM staff_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Forgets what no longer counts: sessions begun before `sessions_before` (past the
    /// absolute timeout, whether or not anyone comes back with them) and wrong-password
    /// counts untouched since `throttle_before` that lock nothing at `now`.
    pub async fn purge_staff_sign_ins(
        &self,
        tx: &mut Tx,
        sessions_before: i64,
        throttle_before: i64,
        now: i64,
    ) -> Result<()> {
        on_tx!(tx, |db| sqlx::query("DELETE FROM staff_sessions WHERE created_at < $1")
            .bind(Millis(sessions_before))
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        on_tx!(tx, |db| sqlx::query(
            "DELETE FROM staff_sign_in_throttle WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until < $2)"
        )
        .bind(Millis(throttle_before))
        .bind(Millis(now))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Ends a session that timed out (no journal entry: nobody acted).
    pub async fn expire_session(&self, id_hash: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        on_tx!(tx, |db| sqlx::query("DELETE FROM staff_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        tx.commit().await
    }
}
