-- Tamper evidence (store/audit_chain.rs): each row's keyed BLAKE3 chain
-- value over the previous row's and its own content. Rows written before
-- this migration have none; `sxfer audit verify` counts them apart.
ALTER TABLE audit ADD COLUMN chain BLOB;
