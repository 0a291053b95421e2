// Batched, parameterised upserts: one statement per label and per relationship key.
// `$rows` is a list of maps; labels and types are literal here, never built from data.
// Nodes: {id, <every schema property>}; relationships: {src, dst, weight, source, role}.
// Every property is SET one by one (a null removes it), so an upsert replaces a node's or
// relationship's properties; one SET per property rather than `+= map` keeps the planner
// from adding an Eager barrier. Relationship rows whose endpoints are absent match
// nothing and are left out (the caller counts them from `matched`).

// name: node_Artist
UNWIND $rows AS row
MERGE (n:Artist {id: row.id})
SET n.name = row.name, n.aliases = row.aliases, n.born = row.born, n.died = row.died, n.country = row.country;

// name: node_Album
UNWIND $rows AS row
MERGE (n:Album {id: row.id})
SET n.title = row.title, n.year = row.year;

// name: node_Track
UNWIND $rows AS row
MERGE (n:Track {id: row.id})
SET n.title = row.title, n.duration_s = row.duration_s, n.year = row.year, n.audio_path = row.audio_path;

// name: node_Attribute
UNWIND $rows AS row
MERGE (n:Attribute {id: row.id})
SET n.name = row.name, n.kind = row.kind;

// name: rel_Track_BY_Artist
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Artist {id: row.dst})
MERGE (s)-[r:BY]->(d)
SET r.weight = row.weight, r.source = row.source, r.role = row.role
RETURN count(r) AS matched;

// name: rel_Track_ON_Album
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Album {id: row.dst})
MERGE (s)-[r:ON]->(d)
SET r.weight = row.weight, r.source = row.source, r.role = row.role
RETURN count(r) AS matched;

// name: rel_Album_BY_Artist
UNWIND $rows AS row
MATCH (s:Album {id: row.src})
MATCH (d:Artist {id: row.dst})
MERGE (s)-[r:BY]->(d)
SET r.weight = row.weight, r.source = row.source, r.role = row.role
RETURN count(r) AS matched;

// name: rel_Track_HAS_Attribute
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Attribute {id: row.dst})
MERGE (s)-[r:HAS]->(d)
SET r.weight = row.weight, r.source = row.source, r.role = row.role
RETURN count(r) AS matched;

// name: rel_Artist_HAS_Attribute
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Attribute {id: row.dst})
MERGE (s)-[r:HAS]->(d)
SET r.weight = row.weight, r.source = row.source, r.role = row.role
RETURN count(r) AS matched;

// name: rel_Artist_SIMILAR_TO_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Artist {id: row.dst})
MERGE (s)-[r:SIMILAR_TO]->(d)
SET r.weight = row.weight, r.source = row.source, r.role = row.role
RETURN count(r) AS matched;

// name: rel_Artist_INFLUENCED_BY_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Artist {id: row.dst})
MERGE (s)-[r:INFLUENCED_BY]->(d)
SET r.weight = row.weight, r.source = row.source, r.role = row.role
RETURN count(r) AS matched;

// name: rel_Artist_MEMBER_OF_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Artist {id: row.dst})
MERGE (s)-[r:MEMBER_OF]->(d)
SET r.weight = row.weight, r.source = row.source, r.role = row.role
RETURN count(r) AS matched;

// name: rel_Track_VERSION_OF_Track
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Track {id: row.dst})
MERGE (s)-[r:VERSION_OF]->(d)
SET r.weight = row.weight, r.source = row.source, r.role = row.role
RETURN count(r) AS matched;

// Clearing deletes relationships first, then nodes, $limit per transaction: a DETACH DELETE
// of a hub node would hold all of its relationships in one transaction's memory.
// name: clear_rels_batch
MATCH ()-[r]->()
WITH r LIMIT $limit
DELETE r
RETURN count(*) AS deleted;

// name: clear_nodes_batch
MATCH (n)
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted;
