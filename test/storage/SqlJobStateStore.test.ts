import { jobStateStoreSuite } from "./SqlJobStateStoreSuite.js"
import { sqlite } from "./tempDb.js"

jobStateStoreSuite(sqlite)
