#!/usr/bin/env node
// An offline stand-in for a command-line search tool (like `mes search`):
//   node examples/search-tool.mjs <query>
// prints {"results": [...]} with the matching documents of a small built-in
// corpus, plus one "latest" result per minute so periodic runs store new items.
const query = (process.argv[2] ?? "").toLowerCase()
const corpus = [
  { title: "Effect: a TypeScript library for typed effects", url: "https://example.org/docs/effect" },
  { title: "Schedules, retries and repetition in Effect", url: "https://example.org/docs/schedule" },
  { title: "Binary heaps and priority queues", url: "https://example.org/docs/heap" },
  { title: "SQLite as an application file format", url: "https://example.org/docs/sqlite" },
  { title: "RSS 2.0 and Atom compared", url: "https://example.org/docs/feeds" }
]
const words = query.split(/\s+/).filter(Boolean)
const results = corpus.filter((doc) => words.some((w) => doc.title.toLowerCase().includes(w)))
const minute = new Date().toISOString().slice(0, 16)
results.push({
  title: `Latest on "${query}" at ${minute}Z`,
  url: `https://example.org/latest/${encodeURIComponent(query)}/${minute}`
})
process.stdout.write(JSON.stringify({ query, results }))
