// The part of fs-ext (a CommonJS native addon without type declarations) that stratadb uses.
declare module 'fs-ext' {
  export function flockSync(fd: number, flags: 'sh' | 'ex' | 'shnb' | 'exnb' | 'un'): void;
}
