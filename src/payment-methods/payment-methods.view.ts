// A payment method as the API shows it (API.md §3.3), also beside the payments that use it.
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.ts';
import { auditOf, type AuditFields } from '../shared/audit.ts';
import * as repo from './payment-methods.repository.ts';

export interface MethodLocale {
  name: string;
  description: string | null;
}

export interface PaymentMethod extends AuditFields {
  id: string;
  locales: { ar: MethodLocale; en: MethodLocale };
  visible: boolean;
  code: string | null;
}

export function toPaymentMethod(row: repo.PaymentMethodRow): PaymentMethod {
  return {
    id: row.id,
    locales: {
      ar: { name: row.name_ar, description: row.description_ar },
      en: { name: row.name_en, description: row.description_en },
    },
    visible: row.visible === 1,
    code: row.code,
    ...auditOf(row),
  };
}

/** The methods among `ids` (as the payments module returns them beside payments). */
export async function paymentMethodsByIds(
  db: Kysely<DB>,
  organizationId: string,
  ids: readonly string[],
): Promise<PaymentMethod[]> {
  const rows = await repo.findPaymentMethodsByIds(db, organizationId, ids);
  return rows.map(toPaymentMethod);
}
