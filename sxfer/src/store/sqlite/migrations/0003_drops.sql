-- Drops (PROTOCOL.md §14): files encrypted on the sender's machine to the
-- recipients' keys. `header` is the DropHeader exactly as the sender sent
-- it (the signed DropContent and its signature): the server cannot read
-- the file and does not vouch for the header; recipients verify it.
-- `blob_id` names blobs/<first 2>/<blob_id>, which holds the age
-- ciphertext as uploaded (not re-encrypted to the storage key: it is
-- already unreadable here, and `age -d -i KEY` decrypts the blob as is).
-- `ciphertext_length`/`ciphertext_digest` (BLAKE3) are the checked
-- Commit. Name, size, mode and mtime repeat the header's, for operators.
CREATE TABLE drops (
    id                BLOB    PRIMARY KEY CHECK (length(id) = 16),
    sender_id         INTEGER NOT NULL REFERENCES users (id),
    name              TEXT    NOT NULL,
    size              INTEGER NOT NULL CHECK (size >= 0),
    mode              INTEGER NOT NULL,
    mtime             INTEGER NOT NULL,
    header            BLOB    NOT NULL,
    ciphertext_length INTEGER NOT NULL CHECK (ciphertext_length >= 0),
    ciphertext_digest BLOB    NOT NULL CHECK (length(ciphertext_digest) = 32),
    blob_id           TEXT    NOT NULL UNIQUE,
    created           INTEGER NOT NULL
) STRICT;
CREATE INDEX drops_sender ON drops (sender_id);

-- Inboxes: a row per recipient still holding the drop. A drop whose last
-- row goes is deleted with its blob.
CREATE TABLE drop_recipients (
    drop_id BLOB    NOT NULL REFERENCES drops (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (drop_id, user_id)
) STRICT;
CREATE INDEX drop_recipients_user ON drop_recipients (user_id);
