// The typed personalised walk of kgjemb.graph.proximity, one step at a time, computed in
// the database (for graphs that do not fit in the query process's memory).
// Parameters only; relationship types come from a fixed set in the caller.

// name: seeds
UNWIND $seeds AS s
MATCH (n) WHERE s.label IN labels(n) AND n.id = s.id
RETURN elementId(n) AS eid, s.label AS label, s.id AS id, s.mass AS mass;

// name: walk_step
// For each frontier node (element id, mass): the mass it sends along each walked
// relationship (both directions). At a node, a type's share is its weight × (the type's
// summed edge weight there)^$gamma over the same sum for every type present there; within
// a type, an edge's share is its weight over the type's summed edge weights. Mass arriving
// at a node is summed in the database.
UNWIND $frontier AS f
MATCH (n) WHERE elementId(n) = f.eid
MATCH (n)-[r]-(m)
WHERE type(r) IN $types AND NOT m:Attribute
WITH f, type(r) AS t, m, coalesce(toFloat(r.weight), 1.0) AS w
WHERE w > 0
WITH f, t, collect({m: m, w: w}) AS grp, sum(w) AS tot
WITH f, collect({t: t, grp: grp, tot: tot}) AS per_type
WITH f, per_type, reduce(z = 0.0, x IN per_type | z + $weights[x.t] * x.tot ^ $gamma) AS z
UNWIND per_type AS ty
UNWIND ty.grp AS e
WITH e.m AS m, f.mass * $keep * $weights[ty.t] * ty.tot ^ $gamma / z * e.w / ty.tot AS flow
RETURN elementId(m) AS eid, labels(m)[0] AS label, m.id AS id, sum(flow) AS mass;
