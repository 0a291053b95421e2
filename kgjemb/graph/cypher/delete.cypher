// Batched, parameterised deletions (graph load --prune, graph delete, index remove).
// Relationships first, by (src, dst) pairs: `$rows` is a list of {src, dst} maps; then
// nodes by id: `$ids` is a list of strings. A node's relationships are deleted before the
// node (the diff lists them), so a DETACH DELETE here only meets what another client added
// meanwhile, and a hub node never holds all of its relationships in one transaction.
// Deleting what is already gone matches nothing: every statement is idempotent.

// name: unrel_Track_BY_Artist
UNWIND $rows AS row
MATCH (s:Track {id: row.src})-[r:BY]->(d:Artist {id: row.dst})
DELETE r
RETURN count(*) AS deleted;

// name: unrel_Track_ON_Album
UNWIND $rows AS row
MATCH (s:Track {id: row.src})-[r:ON]->(d:Album {id: row.dst})
DELETE r
RETURN count(*) AS deleted;

// name: unrel_Album_BY_Artist
UNWIND $rows AS row
MATCH (s:Album {id: row.src})-[r:BY]->(d:Artist {id: row.dst})
DELETE r
RETURN count(*) AS deleted;

// name: unrel_Track_HAS_Attribute
UNWIND $rows AS row
MATCH (s:Track {id: row.src})-[r:HAS]->(d:Attribute {id: row.dst})
DELETE r
RETURN count(*) AS deleted;

// name: unrel_Artist_HAS_Attribute
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})-[r:HAS]->(d:Attribute {id: row.dst})
DELETE r
RETURN count(*) AS deleted;

// name: unrel_Artist_SIMILAR_TO_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})-[r:SIMILAR_TO]->(d:Artist {id: row.dst})
DELETE r
RETURN count(*) AS deleted;

// name: unrel_Artist_INFLUENCED_BY_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})-[r:INFLUENCED_BY]->(d:Artist {id: row.dst})
DELETE r
RETURN count(*) AS deleted;

// name: unrel_Artist_MEMBER_OF_Artist
UNWIND $rows AS row
MATCH (s:Artist {id: row.src})-[r:MEMBER_OF]->(d:Artist {id: row.dst})
DELETE r
RETURN count(*) AS deleted;

// name: unrel_Track_VERSION_OF_Track
UNWIND $rows AS row
MATCH (s:Track {id: row.src})-[r:VERSION_OF]->(d:Track {id: row.dst})
DELETE r
RETURN count(*) AS deleted;

// name: delete_Artist
UNWIND $ids AS id
MATCH (n:Artist {id: id})
DETACH DELETE n
RETURN count(*) AS deleted;

// name: delete_Album
UNWIND $ids AS id
MATCH (n:Album {id: id})
DETACH DELETE n
RETURN count(*) AS deleted;

// name: delete_Track
UNWIND $ids AS id
MATCH (n:Track {id: id})
DETACH DELETE n
RETURN count(*) AS deleted;

// name: delete_Attribute
UNWIND $ids AS id
MATCH (n:Attribute {id: id})
DETACH DELETE n
RETURN count(*) AS deleted;
