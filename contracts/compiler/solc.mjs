// A native-solc-compatible command line for the npm (emscripten) build of solc.
//
// Native solc binaries cannot be downloaded on our machines, so py-solc-x and brownie call this
// instead. It implements exactly the subset they use: `--version` and `--standard-json` with
// `--base-path`, `--include-path` and `--allow-paths`, resolving imports from disk the way native
// solc's FileReader does (base path / include paths, allowed directories, symlinks resolved).
// Anything else is refused with a non-zero exit code rather than silently ignored.

import { readFileSync, readSync, realpathSync, existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..");

const USAGE = `solc (healthsilk shim around the npm solc compiler)

Usage: solc --version
       solc --standard-json [--base-path PATH] [--include-path PATH]... [--allow-paths P1,P2]
            [--pretty-json] [--json-indent N] [INPUT_FILE | -]

Only the options above are supported; everything else is refused.
`;

class UsageError extends Error {}

function loadCompiler() {
  // Resolve the npm package from the repository's node_modules (not from the caller's cwd).
  const require = createRequire(path.join(repoRoot, "package.json"));
  return require("solc");
}

// Native solc prints e.g. "0.8.30+commit.73712a01.Linux.g++"; the npm build reports
// "...Emscripten.clang". Keep version and commit, present the native platform suffix.
function nativeVersionString(solc) {
  const m = /^(\d+\.\d+\.\d+(?:-[\w.]+)?\+commit\.[0-9a-f]+)/.exec(solc.version());
  if (!m) throw new Error(`unexpected npm solc version string: ${solc.version()}`);
  return `${m[1]}.Linux.g++`;
}

function parseArgs(argv) {
  const opts = {
    version: false,
    help: false,
    standardJson: false,
    basePath: "",
    includePaths: [],
    allowPaths: [],
    indent: 0,
    inputs: [],
  };
  const takesValue = new Set(["--base-path", "--include-path", "--allow-paths", "--json-indent"]);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (takesValue.has(arg) && value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`the required argument for option '${arg}' is missing`);
      value = argv[++i];
    }
    switch (arg) {
      case "--version":
        opts.version = true;
        break;
      case "--help":
      case "-h":
        opts.help = true;
        break;
      case "--standard-json":
        opts.standardJson = true;
        break;
      case "--base-path":
        opts.basePath = value;
        break;
      case "--include-path":
        if (!value) throw new UsageError("Empty values are not allowed in --include-path.");
        opts.includePaths.push(value);
        break;
      case "--allow-paths":
        opts.allowPaths.push(...value.split(",").filter((p) => p !== ""));
        break;
      case "--pretty-json":
        opts.indent = opts.indent || 2;
        break;
      case "--json-indent":
        if (!/^\d+$/.test(value)) throw new UsageError(`Invalid option to --json-indent: ${value}`);
        opts.indent = Number(value);
        break;
      default:
        if (arg === "-" || !arg.startsWith("-")) {
          opts.inputs.push(argv[i]);
        } else {
          // Same wording as native solc so py-solc-x raises UnknownOption.
          throw new UsageError(`unrecognised option '${arg}'`);
        }
    }
  }
  return opts;
}

// Native solc normalises CLI paths to absolute, symlink-free paths before comparing them.
function canonical(p) {
  const abs = path.resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    return abs;
  }
}

function isInside(dir, file) {
  const rel = path.relative(dir, file);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function makeImportCallback(opts) {
  // An empty base path means "the current directory", as in native solc.
  const base = opts.basePath === "" ? process.cwd() : path.resolve(opts.basePath);
  const prefixes = [base, ...opts.includePaths.map((p) => path.resolve(p))];
  const allowed = [base, ...opts.includePaths, ...opts.allowPaths].map(canonical);

  return (sourceUnitName) => {
    const name = sourceUnitName.replace(/^file:\/\//, "");
    const candidates = [];
    const searched = [];
    for (const prefix of prefixes) {
      // An absolute name is still prefixed by an explicit base path (boost path semantics),
      // but is used as-is when the base path is the implicit cwd.
      const full =
        path.isAbsolute(name) && prefix === base && opts.basePath === ""
          ? path.normalize(name)
          : path.join(prefix, name);
      searched.push(full);
      if (existsSync(full) && statSync(full).isFile()) {
        const real = canonical(full);
        if (!candidates.includes(real)) candidates.push(real);
      }
    }
    if (candidates.length === 0) {
      return {
        error: `File not found. Searched the following locations: ${searched.map((s) => `"${s}"`).join(", ")}.`,
      };
    }
    if (candidates.length > 1) {
      return {
        error:
          "Ambiguous import. Multiple matching files found inside base path and/or include paths: " +
          candidates.map((c) => `"${c}"`).join(", ") +
          ".",
      };
    }
    const file = candidates[0];
    if (!allowed.some((dir) => isInside(dir, file))) {
      return {
        error:
          "File outside of allowed directories. The following are allowed: " +
          allowed.map((a) => `"${a}"`).join(", ") +
          ".",
      };
    }
    try {
      return { contents: readFileSync(file, "utf8") };
    } catch (e) {
      return { error: `Cannot read file "${file}": ${e.message}` };
    }
  };
}

// readFileSync(0) fails with EAGAIN when the parent hands us a non-blocking pipe; wait and retry.
function readStdin() {
  const chunks = [];
  const buffer = Buffer.alloc(1 << 16);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let count;
    try {
      count = readSync(0, buffer, 0, buffer.length, null);
    } catch (e) {
      if (e.code === "EAGAIN") {
        Atomics.wait(pause, 0, 0, 5);
        continue;
      }
      if (e.code === "EOF") break;
      throw e;
    }
    if (count === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, count)));
  }
  return Buffer.concat(chunks).toString("utf8");
}

function readInput(opts) {
  if (opts.inputs.length > 1) throw new UsageError("Too many input files for --standard-json.");
  const input = opts.inputs[0];
  if (input === undefined || input === "-") return readStdin();
  return readFileSync(input, "utf8");
}

function main(argv) {
  const opts = parseArgs(argv);
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const solc = loadCompiler();
  if (opts.version) {
    process.stdout.write(
      `solc, the solidity compiler commandline interface\nVersion: ${nativeVersionString(solc)}\n`,
    );
    return 0;
  }
  if (!opts.standardJson) {
    throw new UsageError(
      "this solc only supports --version and --standard-json (no source files on the command line)",
    );
  }
  if (opts.includePaths.length > 0 && opts.basePath === "") {
    throw new UsageError("--include-path option requires a non-empty base path.");
  }
  const output = solc.compile(readInput(opts), { import: makeImportCallback(opts) });
  // Re-serialise so --pretty-json/--json-indent behave as in native solc; errors stay in the
  // JSON with exit code 0, exactly like native standard-json mode.
  const text = opts.indent ? JSON.stringify(JSON.parse(output), null, opts.indent) : output;
  process.stdout.write(text + "\n");
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError) {
    process.stderr.write(`Error: ${e.message}\n\n${USAGE}`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`Error: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = 2;
  }
}
