// Batched, parameterised upserts: one statement per label and per relationship key.
// `$rows` is a list of maps; labels and types are literal here, never built from data.
// Nodes: {id, props}; `SET n += row.props` with every schema property present (null
// removes a property), so an upsert replaces a node's properties.
// Relationships: {src, dst, props}; rows whose endpoints are absent match nothing and
// are left out (the caller counts them from `matched`).

// name: node_Artist
UNWIND $rows AS row
MERGE (n:Artist {id: row.id})
SET n += row.props;

// name: node_Album
UNWIND $rows AS row
MERGE (n:Album {id: row.id})
SET n += row.props;

// name: node_Track
UNWIND $rows AS row
MERGE (n:Track {id: row.id})
SET n += row.props;

// name: node_Attribute
UNWIND $rows AS row
MERGE (n:Attribute {id: row.id})
SET n += row.props;

// name: rel_Track_BY_Artist
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Artist {id: row.dst})
MERGE (s)-[r:BY]->(d)
SET r += row.props
RETURN count(r) AS matched;

// name: rel_Track_ON_Album
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Album {id: row.dst})
MERGE (s)-[r:ON]->(d)
SET r += row.props
RETURN count(r) AS matched;

// name: rel_Album_BY_Artist
UNWIND $rows AS row
MATCH (s:Album {id: row.src})
MATCH (d:Artist {id: row.dst})
MERGE (s)-[r:BY]->(d)
SET r += row.props
RETURN count(r) AS matched;

// name: rel_Track_HAS_Attribute
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Attribute {id: row.dst})
MERGE (s)-[r:HAS]->(d)
SET r += row.props
RETURN count(r) AS matched;

// name: rel_Artist_HAS_Attribute
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Attribute {id: row.dst})
MERGE (s)-[r:HAS]->(d)
SET r += row.props
RETURN count(r) AS matched;

// name: rel_Artist_SIMILAR_TO_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Artist {id: row.dst})
MERGE (s)-[r:SIMILAR_TO]->(d)
SET r += row.props
RETURN count(r) AS matched;

// name: rel_Artist_INFLUENCED_BY_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Artist {id: row.dst})
MERGE (s)-[r:INFLUENCED_BY]->(d)
SET r += row.props
RETURN count(r) AS matched;

// name: rel_Artist_MEMBER_OF_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})
MATCH (d:Artist {id: row.dst})
MERGE (s)-[r:MEMBER_OF]->(d)
SET r += row.props
RETURN count(r) AS matched;

// name: rel_Track_VERSION_OF_Track
UNWIND $rows AS row
MATCH (s:Track {id: row.src})
MATCH (d:Track {id: row.dst})
MERGE (s)-[r:VERSION_OF]->(d)
SET r += row.props
RETURN count(r) AS matched;

// name: clear_batch
MATCH (n)
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted;
