// Bulk load into an EMPTY graph (kgjemb.graph.neo4j_bulk): CREATE instead of MERGE, so no
// existence check per row; the uniqueness constraints still guard every id. Rows are
// de-duplicated by the client first (last row per id / per (src, dst) wins, as in the
// MERGE path), so the graph is the one the batched MERGE statements of upsert.cypher give.
// A null property is simply not stored (the MERGE path's SET of null removes it: same graph).

// name: graph_node_count
MATCH (n) RETURN count(n) AS n;

// name: create_Artist
UNWIND $rows AS row
CREATE (n:Artist {id: row.id, name: row.name, aliases: row.aliases, born: row.born, died: row.died, country: row.country});

// name: create_Album
UNWIND $rows AS row
CREATE (n:Album {id: row.id, title: row.title, year: row.year});

// name: create_Track
UNWIND $rows AS row
CREATE (n:Track {id: row.id, title: row.title, duration_s: row.duration_s, year: row.year, audio_path: row.audio_path});

// name: create_Attribute
UNWIND $rows AS row
CREATE (n:Attribute {id: row.id, name: row.name, kind: row.kind});

// name: create_rel_Track_BY_Artist
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Artist {id: row.dst})
CREATE (s)-[r:BY {weight: row.weight, source: row.source, role: row.role}]->(d)
RETURN count(r) AS matched;

// name: create_rel_Track_ON_Album
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Album {id: row.dst})
CREATE (s)-[r:ON {weight: row.weight, source: row.source, role: row.role}]->(d)
RETURN count(r) AS matched;

// name: create_rel_Album_BY_Artist
UNWIND $rows AS row
MATCH (s:Album {id: row.src})
MATCH (d:Artist {id: row.dst})
CREATE (s)-[r:BY {weight: row.weight, source: row.source, role: row.role}]->(d)
RETURN count(r) AS matched;

// name: create_rel_Track_HAS_Attribute
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Attribute {id: row.dst})
CREATE (s)-[r:HAS {weight: row.weight, source: row.source, role: row.role}]->(d)
RETURN count(r) AS matched;

// name: create_rel_Artist_HAS_Attribute
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Attribute {id: row.dst})
CREATE (s)-[r:HAS {weight: row.weight, source: row.source, role: row.role}]->(d)
RETURN count(r) AS matched;

// name: create_rel_Artist_SIMILAR_TO_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Artist {id: row.dst})
CREATE (s)-[r:SIMILAR_TO {weight: row.weight, source: row.source, role: row.role}]->(d)
RETURN count(r) AS matched;

// name: create_rel_Artist_INFLUENCED_BY_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Artist {id: row.dst})
CREATE (s)-[r:INFLUENCED_BY {weight: row.weight, source: row.source, role: row.role}]->(d)
RETURN count(r) AS matched;

// name: create_rel_Artist_MEMBER_OF_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Artist {id: row.dst})
CREATE (s)-[r:MEMBER_OF {weight: row.weight, source: row.source, role: row.role}]->(d)
RETURN count(r) AS matched;

// name: create_rel_Track_VERSION_OF_Track
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Track {id: row.dst})
CREATE (s)-[r:VERSION_OF {weight: row.weight, source: row.source, role: row.role}]->(d)
RETURN count(r) AS matched;
