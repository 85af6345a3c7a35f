-- After a drop is sent (PROTOCOL.md §14.10): expiry, revocation, receipts
-- and the sender's status. A drop's row now outlives its ciphertext: it
-- *ends* (`ended`, `end_reason`) when its last recipient removes it
-- ('delivered'), its sender revokes it ('revoked') or its expiry passes
-- ('expired'); its blob is deleted then, and `blob_id` no longer names a
-- blob. Ended rows are kept for the sender's `drop status` and removed
-- by the garbage collection some days later (store/gc.rs).
ALTER TABLE drops ADD COLUMN expires INTEGER;     -- seconds since the epoch; NULL: never
ALTER TABLE drops ADD COLUMN ended INTEGER;       -- NULL while live
ALTER TABLE drops ADD COLUMN end_reason TEXT CHECK (end_reason IN ('delivered', 'revoked', 'expired'));
CREATE INDEX drops_expires ON drops (expires) WHERE ended IS NULL AND expires IS NOT NULL;

-- A recipient's row stays when it takes the drop out of its inbox
-- (`removed`); `receipt` is the DropReceipt it sent, as sent.
ALTER TABLE drop_recipients ADD COLUMN removed INTEGER;   -- NULL while in the inbox
ALTER TABLE drop_recipients ADD COLUMN receipt BLOB;
ALTER TABLE drop_recipients ADD COLUMN receipt_time INTEGER;
