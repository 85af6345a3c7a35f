-- sxfer metadata, schema version 1. Applied in one transaction; the schema
-- version is PRAGMA user_version. Times are seconds since the Unix epoch.
-- Sizes are bytes (SQLite integers are signed 64-bit; sizes above 2^63-1
-- are refused before they get here).

-- Accounts. `name` is a checked user name (a-z 0-9 . _ -). `client_id` is
-- 16 random bytes, never reused. `password_hash` is an argon2id PHC string
-- (algorithm, version, parameters and per-user salt recorded in it), NULL
-- when the account has no password. Quotas NULL = the server's default.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    client_id     BLOB    NOT NULL UNIQUE CHECK (length(client_id) = 16),
    password_hash TEXT,
    quota_bytes   INTEGER CHECK (quota_bytes >= 0),
    quota_files   INTEGER CHECK (quota_files >= 0),
    created       INTEGER NOT NULL
);

-- Public keys allowed to log in as a user: the SSH wire encoding (RFC 4253
-- §6.6) and its SHA-256 (the `SHA256:` fingerprint, raw).
CREATE TABLE user_keys (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    fingerprint BLOB    NOT NULL CHECK (length(fingerprint) = 32),
    public_key  BLOB    NOT NULL,
    comment     TEXT    NOT NULL DEFAULT '',
    added       INTEGER NOT NULL,
    PRIMARY KEY (user_id, fingerprint)
);

-- Committed files. A row exists only once its blob is complete, fsynced
-- and renamed into blobs/; `blob_id` names blobs/<first 2>/<blob_id>.
-- `name` is a user-facing label (never a path). `digest` is the BLAKE3 of
-- the plaintext.
CREATE TABLE files (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    name        TEXT    NOT NULL,
    size        INTEGER NOT NULL CHECK (size >= 0),
    mode        INTEGER NOT NULL,
    mtime       INTEGER NOT NULL,
    mtime_nanos INTEGER NOT NULL,
    digest      BLOB    NOT NULL CHECK (length(digest) = 32),
    blob_id     TEXT    NOT NULL UNIQUE,
    stored      INTEGER NOT NULL,
    UNIQUE (user_id, name)
);

-- Uploads in progress: at most one per user and name. `blob_id` names
-- partial/<blob_id>. A resume must announce the same size, mode and mtime.
-- `created` is the time of the latest begin (fresh or resumed).
CREATE TABLE partials (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    name        TEXT    NOT NULL,
    blob_id     TEXT    NOT NULL UNIQUE,
    size        INTEGER NOT NULL CHECK (size >= 0),
    mode        INTEGER NOT NULL,
    mtime       INTEGER NOT NULL,
    mtime_nanos INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    UNIQUE (user_id, name)
);

-- Security-relevant events. `user` is the name as presented (the account
-- may not exist, or may be deleted later), so no foreign key. `kind` is one
-- of login, login_failed, register, upload, download, delete, rename.
-- `digest` is lowercase hex. `detail` holds e.g. a rename's target.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    time    INTEGER NOT NULL,
    user    TEXT,
    remote  TEXT,
    kind    TEXT    NOT NULL,
    name    TEXT,
    size    INTEGER,
    digest  TEXT,
    detail  TEXT,
    outcome TEXT    NOT NULL
);
CREATE INDEX audit_time ON audit (time);
