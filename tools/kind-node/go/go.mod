// The kind node image's own small programs: standard library only, so no go.sum and nothing
// to fetch. Built by `tools/build.sh kind-node-go`.
module nvcf-conformance.local/kindnode

go 1.26.0
