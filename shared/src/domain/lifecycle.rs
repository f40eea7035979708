//! The rules that change a key's material versions: ImportKeyMaterial,
//! DeleteImportedKeyMaterial, expiry and on-demand rotation, as AWS KMS applies them (the
//! facts file's captures, exchange by exchange). Apart from the versions themselves
//! (`material`) and the record (`key`), so neither of those imports the other.

use super::key::KeyRecord;
use super::material::{Import, MaterialVersion, OnDemandRotation, Rotation};
use super::spec::{ImportType, KeyFamily, KeyMaterialState, KeyState, RotationType};
use crate::clock::Timestamp;
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::values::MaterialId;

fn incorrect_identifier(expected: MaterialId) -> KmsError {
    KmsError::new(
        ErrorCode::IncorrectKeyMaterial,
        format!("Imported key material does not have the expected identifier ({expected})."),
    )
}

fn never_imported(id: MaterialId, arn: &str) -> KmsError {
    KmsError::validation(format!(
        "Key material (id: {id}) has never been imported into KMS key {arn}."
    ))
}

impl KeyRecord {
    pub fn current_material(&self) -> Option<&MaterialVersion> {
        self.materials
            .iter()
            .find(|v| v.state == KeyMaterialState::Current)
    }

    pub fn material(&self, id: MaterialId) -> Option<&MaterialVersion> {
        self.materials.iter().find(|v| v.id == id)
    }

    fn pending_material(&self) -> Option<&MaterialVersion> {
        self.materials
            .iter()
            .find(|v| v.state == KeyMaterialState::PendingRotation)
    }

    fn material_mut(&mut self, id: MaterialId) -> Option<&mut MaterialVersion> {
        self.materials.iter_mut().find(|v| v.id == id)
    }

    /// Whether an EXTERNAL key has all the material it needs (keys KMS made always do).
    pub fn has_usable_material(&self, now: Timestamp) -> bool {
        if self.origin != super::spec::Origin::External {
            return true;
        }
        self.current_material().is_some()
            && self
                .materials
                .iter()
                .filter(|v| v.is_used())
                .all(|v| v.is_present(now))
    }

    /// Completes an accepted on-demand rotation whose time has come. Reads apply it without
    /// storing it; the next write stores it. Deterministic, so every reader agrees.
    pub fn settle(&mut self, now: Timestamp) {
        let Some(r) = self.on_demand_rotation.filter(|r| now >= r.completes) else {
            return;
        };
        self.on_demand_rotation = None;
        if self.pending_material().is_none() {
            return;
        }
        for v in &mut self.materials {
            match v.state {
                KeyMaterialState::Current => v.state = KeyMaterialState::NonCurrent,
                KeyMaterialState::PendingRotation => {
                    v.state = KeyMaterialState::Current;
                    v.rotation = Some(Rotation {
                        date: r.completes,
                        kind: RotationType::OnDemand,
                    });
                }
                _ => {}
            }
        }
    }

    /// ImportKeyMaterial's rules once the material is unwrapped and checked: which version it
    /// is, whether it may be imported as asked, and the version list after it.
    pub fn import_material(&mut self, m: Import, now: Timestamp) -> KmsResult<()> {
        let arn = self.arn();
        if self.state(now) == KeyState::PendingDeletion {
            return Err(super::refusal::state_error(&arn, KeyState::PendingDeletion));
        }
        if self.multi_region.is_replica() {
            return self.import_into_replica(m, &arn);
        }
        let symmetric = self.key_spec.family() == KeyFamily::Symmetric;
        let first = self.materials.is_empty();
        let import_type = match m.import_type {
            Some(t) => t,
            None if first => ImportType::NewKeyMaterial,
            None => ImportType::ExistingKeyMaterial,
        };
        // Material for a version the key has must be that version's: the one named by
        // KeyMaterialId, else the current one (captured: the message quotes whichever).
        let existing = !first && (!symmetric || import_type == ImportType::ExistingKeyMaterial);
        let expected = m
            .expected_id
            .or_else(|| existing.then(|| self.current_material().map(|v| v.id))?);
        if let Some(expected) = expected.filter(|e| *e != m.id) {
            return Err(incorrect_identifier(expected));
        }
        if first {
            if import_type == ImportType::ExistingKeyMaterial {
                // AWS's answer to EXISTING_KEY_MATERIAL before any import was not captured;
                // the material cannot be "existing", so it is refused as never imported.
                return Err(never_imported(m.id, &arn));
            }
            self.materials.push(MaterialVersion {
                id: m.id,
                sealed: Some(m.sealed),
                description: m.description,
                expiry: m.expiry,
                state: KeyMaterialState::Current,
                rotation: None,
            });
            self.enabled = true;
            return Ok(());
        }
        if existing {
            let v = self
                .material_mut(m.id)
                .ok_or_else(|| never_imported(m.id, &arn))?;
            v.sealed = Some(m.sealed);
            v.expiry = m.expiry;
            if m.description.is_some() {
                v.description = m.description;
            }
            // A successful import makes the key usable again, even one the user had disabled
            // (captured: reimport into a Disabled key left it Enabled).
            self.enabled = true;
            return Ok(());
        }
        // NEW_KEY_MATERIAL into a key that has material: stage it for rotation.
        if self.material(m.id).is_some() {
            return Err(KmsError::new(
                ErrorCode::IncorrectKeyMaterial,
                format!(
                    "Key material (id: {}) being imported as NEW_KEY_MATERIAL is already associated with KMS key {arn}.",
                    m.id
                ),
            ));
        }
        if let Some(p) = self.pending_material() {
            return Err(KmsError::invalid_state(format!(
                "New key material (id: {}) cannot be imported into KMS key {arn}, because another key material (id: {}) is pending rotation.",
                m.id, p.id
            )));
        }
        self.materials.push(MaterialVersion {
            id: m.id,
            sealed: Some(m.sealed),
            description: m.description,
            expiry: m.expiry,
            state: KeyMaterialState::PendingRotation,
            rotation: None,
        });
        Ok(())
    }

    /// A replica's material is its primary's: each version it lists must get the same bytes
    /// (matched by `KeyMaterialId`, which depends only on the key id and the bytes). Material
    /// that matches no version is refused naming the first version still missing here, else
    /// the current one.
    fn import_into_replica(&mut self, m: Import, arn: &str) -> KmsResult<()> {
        let expected = m.expected_id.or_else(|| {
            self.material(m.id)
                .or_else(|| self.materials.iter().find(|v| v.sealed.is_none()))
                .or_else(|| self.current_material())
                .map(|v| v.id)
        });
        match expected {
            Some(e) if e != m.id => return Err(incorrect_identifier(e)),
            None => return Err(never_imported(m.id, arn)),
            Some(_) => {}
        }
        let v = self
            .material_mut(m.id)
            .ok_or_else(|| never_imported(m.id, arn))?;
        v.sealed = Some(m.sealed);
        v.expiry = m.expiry;
        if v.is_used() {
            self.enabled = true;
        }
        Ok(())
    }

    /// The parameters a replica refuses at ImportKeyMaterial (captured texts, without a
    /// final period): new material and its description are the primary's to give.
    pub fn check_replica_import(
        &self,
        import_type: Option<ImportType>,
        description: bool,
    ) -> KmsResult<()> {
        if !self.multi_region.is_replica() {
            return Ok(());
        }
        if description {
            return Err(KmsError::validation(
                "Key material description can only be specified on primary Multi-Region keys",
            ));
        }
        if import_type == Some(ImportType::NewKeyMaterial) {
            return Err(KmsError::validation(
                "Input parameter ImportType NEW_KEY_MATERIAL cannot be used on replica Multi-Region keys",
            ));
        }
        Ok(())
    }

    /// Takes a replica's shared properties from its (settled) primary: the material versions
    /// (ids, states, rotations, descriptions) and the rotation settings. What is per Region
    /// stays: an imported key's bytes and expiry in this Region; KMS's own material is one.
    pub fn share_from(&mut self, primary: &KeyRecord) {
        let own = std::mem::take(&mut self.materials);
        let imported = self.origin == super::spec::Origin::External;
        self.materials = primary
            .materials
            .iter()
            .map(|p| {
                let mine = own.iter().find(|v| v.id == p.id && v.sealed.is_some());
                let (sealed, expiry) = match mine {
                    _ if !imported => (p.sealed.clone(), p.expiry),
                    Some(v) => (v.sealed.clone(), v.expiry),
                    None => (None, super::material::Expiry::Never),
                };
                MaterialVersion {
                    id: p.id,
                    sealed,
                    description: p.description.clone(),
                    expiry,
                    state: p.state,
                    rotation: p.rotation,
                }
            })
            .collect();
        self.rotation_period_days = primary.rotation_period_days;
        self.on_demand_rotation = primary.on_demand_rotation;
    }

    /// DeleteImportedKeyMaterial: the named version (default: the current one) loses its
    /// material; a version pending rotation is dropped entirely. Returns the id of the version
    /// deleted, `None` when the key never had material. Deleting twice is fine.
    pub fn delete_material(
        &mut self,
        requested: Option<MaterialId>,
        now: Timestamp,
    ) -> KmsResult<Option<MaterialId>> {
        let arn = self.arn();
        if self.state(now) == KeyState::PendingDeletion {
            return Err(super::refusal::state_error(&arn, KeyState::PendingDeletion));
        }
        let id = match requested {
            Some(id) => id,
            None => match self.current_material() {
                Some(v) => v.id,
                None => return Ok(None),
            },
        };
        let Some(pos) = self.materials.iter().position(|v| v.id == id) else {
            return Err(never_imported(id, &arn));
        };
        if self.materials[pos].state == KeyMaterialState::PendingRotation {
            self.materials.remove(pos);
        } else {
            self.materials[pos].sealed = None;
        }
        Ok(Some(id))
    }

    /// RotateKeyOnDemand for a symmetric key whose new material is already staged as pending
    /// rotation: the rotation completes `delay` from now (at once with no delay).
    pub fn request_rotation(
        &mut self,
        now: Timestamp,
        delay: std::time::Duration,
    ) -> KmsResult<()> {
        let arn = self.arn();
        if self.on_demand_rotation.is_some() {
            // AWS's text for a second request while one is in progress was not captured.
            return Err(KmsError::new(
                ErrorCode::Conflict,
                format!("An on-demand rotation is already in progress for the key: {arn}."),
            ));
        }
        if self.pending_material().is_none() {
            return Err(KmsError::invalid_state(format!(
                "No available key material pending rotation for the key: {arn}."
            )));
        }
        self.on_demand_rotation = Some(OnDemandRotation {
            started: now,
            completes: now.plus(delay),
        });
        self.settle(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key::tests::sample;
    use crate::domain::material::Expiry;
    use crate::domain::spec::{ImportState, KeySpec, KeyUsage, Origin};
    use crate::values::Sealed;
    use std::time::Duration;

    const NOW: Timestamp = Timestamp::from_secs(1_000_000);

    fn external() -> KeyRecord {
        let mut k = sample(Origin::External);
        k.enabled = false;
        k
    }

    fn import(id: u8, import_type: Option<ImportType>) -> Import {
        Import {
            id: MaterialId([id; 32]),
            sealed: Sealed(vec![id]),
            expiry: Expiry::Never,
            import_type,
            expected_id: None,
            description: None,
        }
    }

    fn states(k: &KeyRecord) -> Vec<(u8, KeyMaterialState, ImportState)> {
        k.materials
            .iter()
            .map(|v| (v.id.0[0], v.state, v.import_state()))
            .collect()
    }

    fn err(r: KmsResult<impl std::fmt::Debug>) -> (ErrorCode, String) {
        let e = r.unwrap_err();
        (e.code, e.message().unwrap_or_default().to_string())
    }

    #[test]
    fn symmetric_lifecycle_as_captured() {
        use crate::domain::spec::ImportState::*;
        use KeyMaterialState::*;
        let mut k = external();
        let arn = k.arn();
        assert_eq!(k.state(NOW), KeyState::PendingImport);
        assert_eq!(
            k.delete_material(None, NOW),
            Ok(None),
            "#3 delete on empty key"
        );

        k.import_material(import(0xA, None), NOW).unwrap();
        assert_eq!(k.state(NOW), KeyState::Enabled);
        k.import_material(import(0xA, None), NOW).unwrap();
        assert_eq!(
            err(k.import_material(import(0xB, None), NOW)),
            (
                ErrorCode::IncorrectKeyMaterial,
                format!(
                    "Imported key material does not have the expected identifier ({}).",
                    MaterialId([0xA; 32])
                )
            ),
            "#24"
        );
        assert_eq!(
            err(k.import_material(import(0xA, Some(ImportType::NewKeyMaterial)), NOW)).1,
            format!(
                "Key material (id: {}) being imported as NEW_KEY_MATERIAL is already associated with KMS key {arn}.",
                MaterialId([0xA; 32])
            ),
            "#25"
        );
        let mut wrong_id = import(0xA, None);
        wrong_id.expected_id = Some(MaterialId([0; 32]));
        assert_eq!(
            err(k.import_material(wrong_id, NOW)).1,
            format!(
                "Imported key material does not have the expected identifier ({}).",
                MaterialId([0; 32])
            ),
            "#26"
        );
        assert_eq!(
            err(k.request_rotation(NOW, Duration::ZERO)),
            (
                ErrorCode::KmsInvalidState,
                format!("No available key material pending rotation for the key: {arn}.")
            ),
            "#31"
        );

        k.import_material(import(0xB, Some(ImportType::NewKeyMaterial)), NOW)
            .unwrap();
        assert_eq!(
            states(&k),
            [(0xA, Current, Imported), (0xB, PendingRotation, Imported)]
        );
        assert_eq!(
            err(k.import_material(import(0xC, Some(ImportType::NewKeyMaterial)), NOW)).1,
            format!(
                "New key material (id: {}) cannot be imported into KMS key {arn}, because another key material (id: {}) is pending rotation.",
                MaterialId([0xC; 32]),
                MaterialId([0xB; 32])
            ),
            "#35"
        );
        assert_eq!(
            k.delete_material(Some(MaterialId([0xB; 32])), NOW),
            Ok(Some(MaterialId([0xB; 32])))
        );
        assert_eq!(
            states(&k),
            [(0xA, Current, Imported)],
            "#38 pending removed entirely"
        );
        k.import_material(import(0xB, Some(ImportType::NewKeyMaterial)), NOW)
            .unwrap();

        k.request_rotation(NOW, Duration::from_secs(60)).unwrap();
        assert_eq!(states(&k)[1].1, PendingRotation, "not before the delay");
        let later = NOW.plus(Duration::from_secs(60));
        k.settle(later);
        assert_eq!(
            states(&k),
            [(0xA, NonCurrent, Imported), (0xB, Current, Imported)]
        );
        assert_eq!(
            k.current_material().unwrap().rotation,
            Some(Rotation {
                date: later,
                kind: RotationType::OnDemand
            })
        );

        assert_eq!(
            k.delete_material(Some(MaterialId([0xA; 32])), NOW),
            Ok(Some(MaterialId([0xA; 32])))
        );
        assert_eq!(
            k.state(NOW),
            KeyState::PendingImport,
            "#43 a missing non-current version"
        );
        let mut restore = import(0xA, None);
        restore.expected_id = Some(MaterialId([0xA; 32]));
        k.import_material(restore, NOW).unwrap();
        assert_eq!(k.state(NOW), KeyState::Enabled, "#46");

        k.enabled = false;
        k.import_material(import(0xB, None), NOW).unwrap();
        assert_eq!(k.state(NOW), KeyState::Enabled, "#50 reimport re-enables");

        assert_eq!(
            k.delete_material(None, NOW),
            Ok(Some(MaterialId([0xB; 32]))),
            "#56"
        );
        assert_eq!(
            k.delete_material(None, NOW),
            Ok(Some(MaterialId([0xB; 32]))),
            "#57"
        );
        assert_eq!(k.state(NOW), KeyState::PendingImport);
        assert_eq!(
            err(k.delete_material(Some(MaterialId([0; 32])), NOW)),
            (
                ErrorCode::Validation,
                format!(
                    "Key material (id: {}) has never been imported into KMS key {arn}.",
                    MaterialId([0; 32])
                )
            ),
            "#58"
        );
    }

    #[test]
    fn expiry_is_deletion_from_that_moment() {
        let mut k = external();
        let mut m = import(1, None);
        m.expiry = Expiry::Until(NOW.plus(Duration::from_secs(20)));
        k.import_material(m, NOW).unwrap();
        assert_eq!(k.state(NOW), KeyState::Enabled);
        let after = NOW.plus(Duration::from_secs(20));
        assert_eq!(k.state(after), KeyState::PendingImport);
        let current = k.current_material().unwrap();
        assert!(!current.is_present(after));
        assert_eq!(
            current.import_state(),
            ImportState::Imported,
            "listed as AWS lists it"
        );
        // Same material, now without expiry.
        k.import_material(import(1, None), after).unwrap();
        assert_eq!(k.state(after), KeyState::Enabled);
        // An expired version pending rotation does not affect the key.
        let mut p = import(2, Some(ImportType::NewKeyMaterial));
        p.expiry = Expiry::Until(NOW.plus(Duration::from_secs(30)));
        k.import_material(p, after).unwrap();
        assert_eq!(
            k.state(NOW.plus(Duration::from_secs(40))),
            KeyState::Enabled
        );
    }

    #[test]
    fn rotation_uses_whatever_is_pending_when_it_completes() {
        let mut k = external();
        k.import_material(import(1, None), NOW).unwrap();
        k.import_material(import(2, Some(ImportType::NewKeyMaterial)), NOW)
            .unwrap();
        k.request_rotation(NOW, Duration::from_secs(100)).unwrap();
        assert_eq!(
            err(k.request_rotation(NOW, Duration::ZERO)).0,
            ErrorCode::Conflict
        );
        k.delete_material(Some(MaterialId([2; 32])), NOW).unwrap();
        k.import_material(import(3, Some(ImportType::NewKeyMaterial)), NOW)
            .unwrap();
        k.settle(NOW.plus(Duration::from_secs(100)));
        assert_eq!(k.current_material().unwrap().id, MaterialId([3; 32]));
        // Nothing pending at completion: no rotation, the request clears.
        k.import_material(import(4, Some(ImportType::NewKeyMaterial)), NOW)
            .unwrap();
        k.request_rotation(NOW, Duration::from_secs(10)).unwrap();
        k.delete_material(Some(MaterialId([4; 32])), NOW).unwrap();
        k.settle(NOW.plus(Duration::from_secs(10)));
        assert_eq!(k.current_material().unwrap().id, MaterialId([3; 32]));
        assert!(k.on_demand_rotation.is_none());
    }

    #[test]
    fn other_families_only_take_their_first_material_again() {
        let mut k = external();
        k.key_spec = KeySpec::Hmac256;
        k.key_usage = KeyUsage::GenerateVerifyMac;
        k.import_material(import(1, None), NOW).unwrap();
        assert_eq!(
            err(k.import_material(import(2, None), NOW)).0,
            ErrorCode::IncorrectKeyMaterial
        );
        k.delete_material(None, NOW).unwrap();
        assert_eq!(k.state(NOW), KeyState::PendingImport);
        k.import_material(import(1, None), NOW).unwrap();
        assert_eq!(k.state(NOW), KeyState::Enabled);
    }

    #[test]
    fn existing_material_before_any_import_is_refused() {
        let mut k = external();
        assert_eq!(
            err(k.import_material(import(1, Some(ImportType::ExistingKeyMaterial)), NOW)).0,
            ErrorCode::Validation
        );
        k.import_material(import(1, Some(ImportType::NewKeyMaterial)), NOW)
            .unwrap();
        assert_eq!(k.current_material().unwrap().id, MaterialId([1; 32]));
    }
}
