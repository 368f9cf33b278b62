export const CLIENT_DIR: string;
export const REPO_DIR: string;
export const OUTPUT: string;
export function hubPython(): string;
export function loadSchemas(opts?: { url?: string }): Promise<Record<string, unknown>>;
export function generate(schemas: Record<string, unknown>): Promise<string>;
