/**
 * Bounded, non-blocking reads of local files (the feed collector's local
 * feeds).
 *
 * `open()` of a FIFO blocks until a writer appears, and a blocked `open`
 * holds one of libuv's few threads and keeps the process alive whatever
 * timeout or interruption the Effect side applies. So only regular files
 * are read: the path is checked with `stat` first (a FIFO, a device, a
 * socket or a directory is refused before anything is opened), then opened
 * with `O_NONBLOCK` — which cannot block, even if the path was replaced by a
 * FIFO in between — and checked again with `fstat` (same file, still
 * regular). Reads go by `pread` in 64 KiB slices, at most `maxBytes + 1`
 * bytes in all, and are interruptible between and during slices (an
 * interrupted read's result is dropped).
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import { concatBytes } from "./util.js"

/** The file cannot be read (missing, not a regular file, no permission, I/O error). */
export class FileReadError extends Data.TaggedError("FileReadError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** The file is larger than the limit. */
export class FileTooLarge extends Data.TaggedError("FileTooLarge")<{ readonly bytesSeen: number }> {}

const SLICE_BYTES = 64 * 1024

// O_NONBLOCK / O_NOCTTY are undefined on Windows, where a FIFO cannot be a path anyway
const OPEN_FLAGS = Fs.constants.O_RDONLY | (Fs.constants.O_NONBLOCK ?? 0) | (Fs.constants.O_NOCTTY ?? 0)

const errnoWords: Record<string, string> = {
  ENOENT: "not found",
  ENOTDIR: "not found (a parent is not a directory)",
  EACCES: "permission denied",
  EPERM: "permission denied",
  ELOOP: "too many symbolic links",
  ENAMETOOLONG: "name too long",
  EISDIR: "is a directory",
  EIO: "I/O error"
}

/** `not found (ENOENT)`, or Node's message for an unusual error. */
const describeErrno = (error: NodeJS.ErrnoException): string => {
  const code = error.code
  if (code === undefined) return error.message
  const words = errnoWords[code]
  return words === undefined ? error.message : `${words} (${code})`
}

/** What kind of file `stats` describes, for messages. */
const kindOf = (stats: Fs.Stats): string =>
  stats.isDirectory()
    ? "a directory"
    : stats.isFIFO()
    ? "a FIFO"
    : stats.isCharacterDevice()
    ? "a character device"
    : stats.isBlockDevice()
    ? "a block device"
    : stats.isSocket()
    ? "a socket"
    : "not a regular file"

/** Node's callback API as an interruptible effect (an interrupted call's result is dropped). */
const call = <A>(
  f: (callback: (error: NodeJS.ErrnoException | null, value: A) => void) => void
): Effect.Effect<A, FileReadError> =>
  Effect.async<A, FileReadError>((resume) => {
    f((error, value) =>
      resume(
        error === null
          ? Effect.succeed(value)
          : Effect.fail(new FileReadError({ message: describeErrno(error), cause: error }))
      )
    )
  })

const refuseIrregular = (stats: Fs.Stats): Effect.Effect<void, FileReadError> =>
  stats.isFile()
    ? Effect.void
    : Effect.fail(new FileReadError({ message: `${kindOf(stats)}, not a regular file: refused` }))

/**
 * The content of the regular file at `path`; fails with {@link FileTooLarge}
 * as soon as it is known to exceed `maxBytes`, and with
 * {@link FileReadError} when it is missing, unreadable, or not a regular
 * file (FIFO, device, socket, directory).
 */
export const readRegularFile = (
  path: string,
  maxBytes: number
): Effect.Effect<Uint8Array, FileReadError | FileTooLarge> =>
  Effect.gen(function*() {
    const before = yield* call<Fs.Stats>((callback) => Fs.stat(path, callback))
    yield* refuseIrregular(before)
    if (before.size > maxBytes) return yield* new FileTooLarge({ bytesSeen: before.size })
    return yield* Effect.acquireUseRelease(
      // O_NONBLOCK: returns at once even on a FIFO put there since the stat
      call<number>((callback) => Fs.open(path, OPEN_FLAGS, callback)),
      (fd) =>
        Effect.gen(function*() {
          const after = yield* call<Fs.Stats>((callback) => Fs.fstat(fd, callback))
          yield* refuseIrregular(after)
          if (after.dev !== before.dev || after.ino !== before.ino) {
            return yield* new FileReadError({ message: "the file was replaced while it was being opened" })
          }
          const chunks: Array<Uint8Array> = []
          let size = 0
          for (;;) {
            const buffer = Buffer.allocUnsafe(Math.min(SLICE_BYTES, maxBytes + 1 - size))
            // pread (explicit position): never moves a file offset, even if the fd were reused after an interruption
            const read = yield* call<number>((callback) => Fs.read(fd, buffer, 0, buffer.length, size, callback))
            if (read === 0) return concatBytes(chunks, size)
            chunks.push(buffer.subarray(0, read))
            size += read
            if (size > maxBytes) return yield* new FileTooLarge({ bytesSeen: size })
          }
        }),
      (fd) => Effect.sync(() => Fs.close(fd, () => {}))
    )
  })
