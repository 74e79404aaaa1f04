/**
 * `azmi-emulator run`'s command line: options up to `--` or COMMAND, then COMMAND's arguments untouched.
 */
import { describe, expect, it } from "vitest"
import { parseRunArgs, RunUsageError } from "../src/run/options.js"

describe("parseRunArgs", () => {
  it("defaults: source imds, IMDS present, COMMAND and its arguments as given", () => {
    expect(parseRunArgs(["--", "curl", "-H", "Metadata:true", "--", "x"])).toEqual({
      source: "imds",
      noImds: false,
      command: "curl",
      args: ["-H", "Metadata:true", "--", "x"],
    })
  })

  it("COMMAND may follow the options without --; its own options are never read as run's", () => {
    expect(parseRunArgs(["--no-imds", "azmi", "token", "--no-imds", "--world", "w"])).toEqual({
      source: "imds",
      noImds: true,
      command: "azmi",
      args: ["token", "--no-imds", "--world", "w"],
    })
  })

  it("--world, --state, --log, --source take a value, as `--flag value` or `--flag=value`", () => {
    expect(
      parseRunArgs(["--world", "w.json", "--state=s.json", "--log", "l.txt", "--source=imds", "--", "bash"]),
    ).toEqual({
      source: "imds",
      noImds: false,
      world: "w.json",
      state: "s.json",
      log: "l.txt",
      command: "bash",
      args: [],
    })
  })

  it.each(["imds", "app-service", "arc", "service-fabric", "cloud-shell", "azure-ml", "workload-identity"])(
    "--source %s is a host run simulates",
    (source) => {
      expect(parseRunArgs(["--source", source, "--", "bash"])).toMatchObject({ source, command: "bash" })
    },
  )

  it("-h / --help before COMMAND is help; after it, COMMAND's", () => {
    expect(parseRunArgs(["--help"])).toEqual({ help: true })
    expect(parseRunArgs(["--no-imds", "-h"])).toEqual({ help: true })
    expect(parseRunArgs(["--", "curl", "--help"])).toMatchObject({ command: "curl", args: ["--help"] })
  })

  it.each([
    [[], /COMMAND is missing/],
    [["--no-imds"], /COMMAND is missing/],
    [["--no-imds", "--"], /COMMAND is missing/],
    [["--", ""], /COMMAND is missing/],
    [["--bogus", "bash"], /unknown option "--bogus"/],
    [["--world"], /--world needs a value/],
    [["--world", " ", "bash"], /--world: must not be empty/],
    [["--state=", "bash"], /--state: must not be empty/],
    [["--log", "a", "--log", "b", "bash"], /--log given twice/],
    [
      ["--source", "app-servic", "bash"],
      /--source: "app-servic" is not a host this emulator can simulate \(imds, app-service, arc, service-fabric, cloud-shell, azure-ml, workload-identity\)/,
    ],
  ])("%j is a usage error: %s", (argv, message) => {
    expect(() => parseRunArgs(argv)).toThrow(RunUsageError)
    expect(() => parseRunArgs(argv)).toThrow(message)
  })
})
