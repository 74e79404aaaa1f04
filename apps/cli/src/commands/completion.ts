/**
 * `azmi completion bash|zsh|fish`: shell completion scripts generated from the command tree, so they
 * never fall out of step with the commands.
 * @module
 */
import { Argument, type Command } from "commander"
import type { CliDeps } from "../context.js"
import { outputFormats } from "../render/formats.js"

interface Node {
  readonly path: ReadonlyArray<string>
  readonly subcommands: ReadonlyArray<string>
  readonly flags: ReadonlyArray<string>
}

const flagsOf = (cmd: Command): Array<string> =>
  cmd.options
    .filter((o) => !o.hidden)
    .flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined))

/** Every command path with its subcommands and flags (global flags included everywhere). */
export const commandTree = (root: Command): Array<Node> => {
  const global = flagsOf(root)
  const nodes: Array<Node> = []
  const walk = (cmd: Command, path: ReadonlyArray<string>) => {
    const subs = cmd.commands.filter((c) => c.name() !== "help")
    nodes.push({
      path,
      subcommands: subs.map((c) => c.name()),
      flags: path.length === 0 ? global : [...flagsOf(cmd), ...global],
    })
    for (const sub of subs) walk(sub, [...path, sub.name()])
  }
  walk(root, [])
  return nodes
}

export const bashScript = (root: Command): string => {
  const nodes = commandTree(root)
  const cases = nodes
    .map((n) => `    "${n.path.join(" ")}") words="${[...n.subcommands, ...n.flags].join(" ")}" ;;`)
    .join("\n")
  const known = nodes.map((n) => n.path.join(" ")).filter((p) => p !== "")
  return `# azmi bash completion: source <(azmi completion bash)
_azmi() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" words="" w
  case "$prev" in
    -o|--output) COMPREPLY=( $(compgen -W "${outputFormats.join(" ")}" -- "$cur") ); return ;;
  esac
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case " ${known.map((k) => `|${k}|`).join(" ")} " in
      *"|\${path:+$path }$w|"*) path="\${path:+$path }$w" ;;
    esac
  done
  case "$path" in
${cases}
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -F _azmi azmi
`
}

export const zshScript = (root: Command): string =>
  `# azmi zsh completion: source <(azmi completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashScript(root).split("\n").slice(1).join("\n")}`

export const fishScript = (root: Command): string => {
  const lines = ["# azmi fish completion: azmi completion fish | source", "complete -c azmi -f"]
  for (const n of commandTree(root)) {
    const condition =
      n.path.length === 0
        ? "__fish_use_subcommand"
        : `__fish_seen_subcommand_from ${n.path[n.path.length - 1]}`
    if (n.subcommands.length > 0) {
      lines.push(`complete -c azmi -n '${condition}' -a '${n.subcommands.join(" ")}'`)
    }
  }
  for (const o of root.options) {
    const long = o.long?.replace(/^--/, "")
    if (long === undefined) continue
    const short = o.short === undefined ? "" : ` -s ${o.short.replace(/^-/, "")}`
    const values = o.argChoices === undefined ? "" : ` -r -a '${o.argChoices.join(" ")}'`
    lines.push(`complete -c azmi -l ${long}${short}${values}`)
  }
  return `${lines.join("\n")}\n`
}

export const registerCompletion = (program: Command, deps: CliDeps): void => {
  program
    .command("completion")
    .summary("print a shell completion script")
    .description("Print a shell completion script (bash, zsh or fish)")
    .addArgument(new Argument("<shell>", "the shell").choices(["bash", "zsh", "fish"]))
    .action((shell: "bash" | "zsh" | "fish") => {
      const script =
        shell === "bash" ? bashScript(program) : shell === "zsh" ? zshScript(program) : fishScript(program)
      deps.stdout.write(script)
      deps.setExitCode(0)
    })
}
