//! Properties: lease, purchase, cede.

use super::*;

impl Slave {
    /// Creates a property.
    pub fn property_create(&mut self, name: &str) -> Result<PropertyId> {
        self.id_of(Request::PropertyCreate(name.into()), PropertyId)
    }

    /// Leases a property (waits as DirectFB's lease does).
    pub fn property_lease(&mut self, p: PropertyId) -> Result<()> {
        self.unit(Request::PropertyLease(p))
    }

    /// Purchases a property (waits as DirectFB's purchase does).
    pub fn property_purchase(&mut self, p: PropertyId) -> Result<()> {
        self.unit(Request::PropertyPurchase(p))
    }

    /// Cedes a lease or purchase.
    pub fn property_cede(&mut self, p: PropertyId) -> Result<()> {
        self.unit(Request::PropertyCede(p))
    }

    /// Destroys a property we created.
    pub fn property_destroy(&mut self, p: PropertyId) -> Result<()> {
        self.unit(Request::PropertyDestroy(p))
    }
}
