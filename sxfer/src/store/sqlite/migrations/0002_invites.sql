-- Invite tokens for registration on servers without open registration.
-- Only BLAKE3(token) is stored: the token itself is shown once, to the
-- operator who made it. Tokens are 32 random bytes, so a fast hash is
-- enough (nothing to brute-force).
CREATE TABLE invites (
    token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    uses_left  INTEGER NOT NULL CHECK (uses_left >= 0),
    expires    INTEGER NOT NULL,
    created    INTEGER NOT NULL
) STRICT;
