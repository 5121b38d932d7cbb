//! SQLite's [`SessionStore`](crate::store::sessions::SessionStore): the shared implementation (both stores run the
//! same SQL).

crate::store::sessions::impl_session_store!(super::SqliteStore, readers);
