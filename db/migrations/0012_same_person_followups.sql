-- An erasure finds the later runs of a person through the run they duplicate
-- (docs/privacy.md); only those few runs carry duplicate_of.
CREATE INDEX runs_duplicate_of ON runs (duplicate_of) WHERE duplicate_of IS NOT NULL;
