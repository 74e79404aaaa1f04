/** `-o yaml`. */
import { stringify } from "yaml"

export const renderYaml = (value: unknown): string => (value === undefined ? "" : stringify(value))
