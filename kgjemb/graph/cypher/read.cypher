// Read statements of the Neo4j store: counts, single nodes, names, traversal, export.

// name: count_Artist
MATCH (n:Artist) RETURN count(n) AS n;

// name: count_Album
MATCH (n:Album) RETURN count(n) AS n;

// name: count_Track
MATCH (n:Track) RETURN count(n) AS n;

// name: count_Attribute
MATCH (n:Attribute) RETURN count(n) AS n;

// name: count_BY
MATCH ()-[r:BY]->() RETURN count(r) AS n;

// name: count_HAS
MATCH ()-[r:HAS]->() RETURN count(r) AS n;

// name: count_INFLUENCED_BY
MATCH ()-[r:INFLUENCED_BY]->() RETURN count(r) AS n;

// name: count_MEMBER_OF
MATCH ()-[r:MEMBER_OF]->() RETURN count(r) AS n;

// name: count_ON
MATCH ()-[r:ON]->() RETURN count(r) AS n;

// name: count_SIMILAR_TO
MATCH ()-[r:SIMILAR_TO]->() RETURN count(r) AS n;

// name: count_VERSION_OF
MATCH ()-[r:VERSION_OF]->() RETURN count(r) AS n;

// name: get_Artist
MATCH (n:Artist {id: $id}) RETURN properties(n) AS props;

// name: get_Album
MATCH (n:Album {id: $id}) RETURN properties(n) AS props;

// name: get_Track
MATCH (n:Track {id: $id}) RETURN properties(n) AS props;

// name: get_Attribute
MATCH (n:Attribute {id: $id}) RETURN properties(n) AS props;

// name: start_Artist
MATCH (n:Artist {id: $id}) RETURN elementId(n) AS eid;

// name: start_Album
MATCH (n:Album {id: $id}) RETURN elementId(n) AS eid;

// name: start_Track
MATCH (n:Track {id: $id}) RETURN elementId(n) AS eid;

// name: start_Attribute
MATCH (n:Attribute {id: $id}) RETURN elementId(n) AS eid;

// name: expand_out
// one breadth-first step from a frontier of element ids, over the allowed types
UNWIND $eids AS eid
MATCH (n) WHERE elementId(n) = eid
MATCH (n)-[r]->(m) WHERE type(r) IN $types
RETURN DISTINCT elementId(m) AS eid, labels(m) AS labels, m.id AS id;

// name: expand_in
// one breadth-first step from a frontier of element ids, over the allowed types
UNWIND $eids AS eid
MATCH (n) WHERE elementId(n) = eid
MATCH (n)<-[r]-(m) WHERE type(r) IN $types
RETURN DISTINCT elementId(m) AS eid, labels(m) AS labels, m.id AS id;

// name: expand_both
// one breadth-first step from a frontier of element ids, over the allowed types
UNWIND $eids AS eid
MATCH (n) WHERE elementId(n) = eid
MATCH (n)-[r]-(m) WHERE type(r) IN $types
RETURN DISTINCT elementId(m) AS eid, labels(m) AS labels, m.id AS id;

// name: names
// every name, title and alias, for the shared NameIndex
MATCH (n:Artist) RETURN 'Artist' AS label, n.id AS id, n.name AS name, n.aliases AS aliases
UNION ALL
MATCH (n:Album) RETURN 'Album' AS label, n.id AS id, n.title AS name, null AS aliases
UNION ALL
MATCH (n:Track) RETURN 'Track' AS label, n.id AS id, n.title AS name, null AS aliases
UNION ALL
MATCH (n:Attribute) RETURN 'Attribute' AS label, n.id AS id, n.name AS name, null AS aliases;

// Exports return ONE record holding every row as a list, in the column order the name
// says: one big message is unpacked by the driver at once, which is ~50x cheaper for the
// client than hundreds of thousands of records. Columns follow NODE_PROPERTIES /
// EDGE_PROPERTIES.

// name: export_Artist
MATCH (n:Artist) RETURN collect([n.id, n.name, n.aliases, n.born, n.died, n.country]) AS rows;

// name: export_Album
MATCH (n:Album) RETURN collect([n.id, n.title, n.year]) AS rows;

// name: export_Track
MATCH (n:Track) RETURN collect([n.id, n.title, n.duration_s, n.year, n.audio_path]) AS rows;

// name: export_Attribute
MATCH (n:Attribute) RETURN collect([n.id, n.name, n.kind]) AS rows;

// name: export_Track_BY_Artist
MATCH (s:Track)-[r:BY]->(d:Artist)
RETURN collect([s.id, d.id, r.weight, r.source, r.role]) AS rows;

// name: export_Track_ON_Album
MATCH (s:Track)-[r:ON]->(d:Album)
RETURN collect([s.id, d.id, r.weight, r.source, r.role]) AS rows;

// name: export_Album_BY_Artist
MATCH (s:Album)-[r:BY]->(d:Artist)
RETURN collect([s.id, d.id, r.weight, r.source, r.role]) AS rows;

// name: export_Track_HAS_Attribute
MATCH (s:Track)-[r:HAS]->(d:Attribute)
RETURN collect([s.id, d.id, r.weight, r.source, r.role]) AS rows;

// name: export_Artist_HAS_Attribute
MATCH (s:Artist)-[r:HAS]->(d:Attribute)
RETURN collect([s.id, d.id, r.weight, r.source, r.role]) AS rows;

// name: export_Artist_SIMILAR_TO_Artist
MATCH (s:Artist)-[r:SIMILAR_TO]->(d:Artist)
RETURN collect([s.id, d.id, r.weight, r.source, r.role]) AS rows;

// name: export_Artist_INFLUENCED_BY_Artist
MATCH (s:Artist)-[r:INFLUENCED_BY]->(d:Artist)
RETURN collect([s.id, d.id, r.weight, r.source, r.role]) AS rows;

// name: export_Artist_MEMBER_OF_Artist
MATCH (s:Artist)-[r:MEMBER_OF]->(d:Artist)
RETURN collect([s.id, d.id, r.weight, r.source, r.role]) AS rows;

// name: export_Track_VERSION_OF_Track
MATCH (s:Track)-[r:VERSION_OF]->(d:Track)
RETURN collect([s.id, d.id, r.weight, r.source, r.role]) AS rows;
