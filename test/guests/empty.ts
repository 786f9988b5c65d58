// The smallest guest: main returns at once (the process-spawn benchmark).
export default function main(): number {
  return 0;
}
