/** `-o none`: print nothing (the exit code says how it went). */
export const renderNone = (_value: unknown): string => ""
