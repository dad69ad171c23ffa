/*
 * The private channel through which guarded hook handlers record decisions on
 * the session they ran for (plugins read decisions, they never forge them).
 */
export const RECORD: unique symbol = Symbol('qgate.recordDecision');
