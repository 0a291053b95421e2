// kgjemb graph schema for Neo4j 5: one uniqueness constraint per label on `id`,
// plus indexes for name look-ups by curators. Idempotent (IF NOT EXISTS): run it any
// number of times, e.g. `cypher-shell -f graph/schema.cypher`. The store runs the
// packaged copy (kgjemb/graph/cypher/schema.cypher) on open; a test keeps both equal.

CREATE CONSTRAINT artist_id IF NOT EXISTS FOR (n:Artist) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT album_id IF NOT EXISTS FOR (n:Album) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT track_id IF NOT EXISTS FOR (n:Track) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT attribute_id IF NOT EXISTS FOR (n:Attribute) REQUIRE n.id IS UNIQUE;

CREATE INDEX artist_name IF NOT EXISTS FOR (n:Artist) ON (n.name);
CREATE INDEX album_title IF NOT EXISTS FOR (n:Album) ON (n.title);
CREATE INDEX track_title IF NOT EXISTS FOR (n:Track) ON (n.title);
CREATE INDEX attribute_name IF NOT EXISTS FOR (n:Attribute) ON (n.name);
CREATE INDEX attribute_kind IF NOT EXISTS FOR (n:Attribute) ON (n.kind);

// Wait (up to 300 s) until every index is online before loading.
CALL db.awaitIndexes(300);
