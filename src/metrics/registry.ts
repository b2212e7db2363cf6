import { Counter, Gauge, Histogram, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration, type Registry } from 'prom-client';

/**
 * Metric constructors that tolerate a component being built twice on one
 * registry (a daemon that leaves and re-inits its swarm, two dataplanes in a
 * test): a counter or histogram already registered is reused, so its series
 * carry on; a gauge with a `collect` callback is replaced, because the old
 * callback reads the component that is gone.
 */
export function counter<T extends string>(registry: Registry, config: Omit<CounterConfiguration<T>, 'registers'>): Counter<T> {
  return (registry.getSingleMetric(config.name) as Counter<T> | undefined) ?? new Counter({ ...config, registers: [registry] });
}

/** A histogram, reused when already registered. */
export function histogram<T extends string>(registry: Registry, config: Omit<HistogramConfiguration<T>, 'registers'>): Histogram<T> {
  return (registry.getSingleMetric(config.name) as Histogram<T> | undefined) ?? new Histogram({ ...config, registers: [registry] });
}

/** A gauge: reused when already registered, replaced when it has a collect callback. */
export function gauge<T extends string>(registry: Registry, config: Omit<GaugeConfiguration<T>, 'registers'>): Gauge<T> {
  const existing = registry.getSingleMetric(config.name) as Gauge<T> | undefined;
  if (existing && !config.collect) return existing;
  if (existing) registry.removeSingleMetric(config.name);
  return new Gauge({ ...config, registers: [registry] });
}
